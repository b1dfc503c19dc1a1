"""Parsing events from JSON (SPEC §2), with the field and reason of every refusal."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.events import Event
from rules.problems import EventError

RESERVED_BOOLEANS = ("email_subscribed", "sms_subscribed")


class EventModel(BaseModel):
    """An incoming event; extra top-level keys are refused so a typo is never lost data."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    customer_id: str | None = Field(None, min_length=1, max_length=200)
    anonymous_id: str | None = Field(None, min_length=1, max_length=200)
    timestamp: datetime | None = None
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be an RFC 3339 string, e.g. 2026-03-01T12:00:00Z")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"'{value}' is not RFC 3339, e.g. 2026-03-01T12:00:00Z") from None
        if parsed.tzinfo is None:
            raise ValueError(f"'{value}' has no offset; add Z or +HH:MM")
        return parsed

    @model_validator(mode="after")
    def _who(self) -> EventModel:
        if not self.customer_id and not self.anonymous_id:
            raise ValueError("an event needs customer_id or anonymous_id")
        return self


def parse_event(data: Any, *, received_at: datetime | None = None) -> Event:
    """Validate one event; a missing timestamp takes `received_at` (over HTTP) or is an error."""
    try:
        model = EventModel.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "event"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (allowed: id, type, customer_id, anonymous_id, timestamp, properties, traits)"
        raise EventError(field, message) from exc
    for key in RESERVED_BOOLEANS:
        if key in model.traits and not isinstance(model.traits[key], bool | None):
            raise EventError(f"traits.{key}", "must be true or false")
    timestamp = model.timestamp or received_at
    if timestamp is None:
        raise EventError("timestamp", "required (RFC 3339 with an offset)")
    return Event(
        type=model.type,
        timestamp=timestamp.astimezone(timezone.utc),
        id=model.id,
        customer_id=model.customer_id,
        anonymous_id=model.anonymous_id,
        properties=model.properties,
        traits=model.traits,
    )
