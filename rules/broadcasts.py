"""Broadcasts (SPEC §13): `broadcasts/*.yaml`, one-off sends to an audience, compiled to journeys.

A broadcast is a journey whose trigger is its schedule, so its steps are the journey step language
unchanged; the file's shape is checked here, its meaning by `rules.compile` like any journey's.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from engine.model import BroadcastTrigger
from rules import schema as s
from rules.durations import parse_duration

FOLDER = "broadcasts"
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
_THROTTLE = re.compile(r"^([1-9]\d*)/([hm])$")


class SendAtModel(s.Strict):
    utc: str | None = Field(None, description="RFC 3339 with an offset: one moment for everyone")
    local: str | None = Field(None, description="YYYY-MM-DDTHH:MM in each customer's own time zone (waves)")
    best_time: s.Duration | None = Field(None, description="send each customer at their most engaged hour "
                                                           "inside this window after send_at")

    @field_validator("utc")
    @classmethod
    def _utc(cls, value: str | None) -> str | None:
        if value is not None:
            utc_moment(value)
        return value

    @field_validator("local")
    @classmethod
    def _local(cls, value: str | None) -> str | None:
        if value is not None:
            local_moment(value)
        return value

    _check_best = field_validator("best_time")(s._duration)

    @model_validator(mode="after")
    def _one(self) -> SendAtModel:
        if (self.utc is None) == (self.local is None):
            raise ValueError("send_at needs exactly one of 'utc' (RFC 3339) or 'local' (YYYY-MM-DDTHH:MM)")
        return self

    def compiled(self, throttle: str | None) -> BroadcastTrigger:
        return BroadcastTrigger(
            utc=utc_moment(self.utc) if self.utc is not None else None,
            local=local_moment(self.local) if self.local is not None else None,
            best_time=parse_duration(self.best_time) if self.best_time is not None else None,
            per_hour=per_hour(throttle) if throttle is not None else None,
        )


class BroadcastModel(s.Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="unique among journeys and broadcasts")
    name: str | None = None
    enabled: bool = True
    audience: s.Expression | None = Field(None, description="who receives it, checked at each customer's send time")
    send_at: SendAtModel
    throttle: str | None = Field(None, description="at most N entries an hour (N/h) or a minute (N/m)")
    filter: s.Expression | None = None
    exit_on: list[s.EventMatchModel] = []
    goal: s.GoalModel | None = None
    topic: str | None = Field(None, description="subscription topic of its marketing messages")
    steps: list[s.StepModel] = Field(min_length=1)

    @field_validator("throttle")
    @classmethod
    def _throttle(cls, value: str | None) -> str | None:
        if value is not None:
            per_hour(value)
        return value

    def as_journey(self) -> s.JourneyModel:
        """The journey it runs: its schedule is the trigger, and a customer enters once."""
        fields: dict[str, Any] = {k: getattr(self, k) for k in
                                  ("id", "name", "enabled", "audience", "filter", "exit_on", "goal", "topic", "steps")}
        fields.update(trigger=self, reentry="never")  # the compiler reads the schedule off the trigger
        return s.JourneyModel.model_construct(**fields)


def utc_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not RFC 3339, e.g. 2026-03-10T09:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' needs an offset, e.g. Z (or use local: for each customer's own time)")
    return moment


def local_moment(text: str) -> datetime:
    if not _LOCAL.match(text):
        raise ValueError(f"'{text}' is not a local time YYYY-MM-DDTHH:MM, e.g. 2026-03-10T09:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a real date and time") from None


def per_hour(text: str) -> float:
    match = _THROTTLE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"throttle '{text}' is not N/h or N/m, e.g. 5000/h")
    return int(match.group(1)) * (60.0 if match.group(2) == "m" else 1.0)
