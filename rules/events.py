"""Parsing events from JSON (SPEC §2) within the limits of §8, with the field and reason of every refusal."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.declared import DeclaredData
from engine.events import Event
from engine.model import DEFAULT_FUTURE_SKEW
from engine.state import ANON
from rules.data import DataTally, conformance_problems
from rules.limits import check_object, customer_id_problem, id_problem, usual_id
from rules.problems import EventError
from rules.traits import check_reserved

FIRST_YEAR, LAST_YEAR = 1970, 9998  # room on both sides for the engine's date arithmetic
MAX_TYPE = 100
# RFC 3339 date-time (T, t or a space between date and time); the offset, when missing, gets its own reason below.
# fromisoformat alone also reads ISO 8601's other forms (20260301T1200Z, week dates, +0100) and any separator.
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?")


class EventModel(BaseModel):
    """An incoming event; extra top-level keys are refused so a typo is never lost data."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    type: str = Field(min_length=1, max_length=MAX_TYPE)
    customer_id: str | None = None
    anonymous_id: str | None = None
    timestamp: datetime | None = None
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}

    @field_validator("id", "anonymous_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and (problem := id_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("customer_id")
    @classmethod
    def _customer_id(cls, value: str | None) -> str | None:
        if value is not None and (problem := customer_id_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        return None if value is None else parse_timestamp(value)

    @model_validator(mode="after")
    def _who(self) -> EventModel:
        if not self.customer_id and not self.anonymous_id:
            raise ValueError("an event needs customer_id or anonymous_id")
        return self


EVENT_KEYS = frozenset(EventModel.model_fields)
_NONE: dict[str, Any] = {}  # a missing `properties` or `traits`, only read


class Shape(NamedTuple):
    """An event's top-level values once they have the types and ids `EventModel` demands."""

    id: str | None
    type: str
    customer_id: str | None
    anonymous_id: str | None
    timestamp: datetime | None
    properties: dict[str, Any]
    traits: dict[str, Any]


_shape = tuple.__new__  # a NamedTuple's own __new__ is a Python function: a call more per event


def common_shape(data: Any) -> Shape | None:
    """The usual event checked in plain Python, at a fraction of the model's cost per event (ingest's
    hot path); None for anything else, which `EventModel` then accepts or refuses with its reason.
    It accepts only what the model accepts, with the same values (tests/unit/test_ingest_fast_path.py)."""
    if type(data) is not dict or not EVENT_KEYS.issuperset(data):
        return None
    kind, event_id = data.get("type"), data.get("id")
    customer_id, anonymous_id = data.get("customer_id"), data.get("anonymous_id")
    if type(kind) is not str or not 0 < len(kind) <= MAX_TYPE or not kind.isascii():
        return None  # beyond ASCII, the model tells a lone surrogate apart
    if not (customer_id or anonymous_id):
        return None
    if not (usual_id(event_id) and usual_id(customer_id) and usual_id(anonymous_id)):
        return None
    if customer_id is not None and customer_id.startswith(ANON):
        return None
    properties, traits = data.get("properties", _NONE), data.get("traits", _NONE)
    if type(properties) is not dict or type(traits) is not dict:
        return None
    for key in properties:
        if type(key) is not str:
            return None
    for key in traits:
        if type(key) is not str:
            return None
    timestamp = data.get("timestamp")
    if timestamp is not None:
        try:
            timestamp = parse_timestamp(timestamp)
        except ValueError:
            return None
    return _shape(Shape, (event_id, kind, customer_id, anonymous_id, timestamp, dict(properties), traits))


def _modelled(data: Any) -> Shape:
    """`EventModel` on anything: the reason of a refusal names its field."""
    try:
        model = EventModel.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "event"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (allowed: id, type, customer_id, anonymous_id, timestamp, properties, traits)"
        raise EventError(field, message) from exc
    return Shape(model.id, model.type, model.customer_id, model.anonymous_id, model.timestamp, model.properties,
                 model.traits)


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 time with an offset, in UTC, within the years §8 allows; ValueError says why not."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string, e.g. 2026-03-01T12:00:00Z")
    try:
        if not RFC3339.fullmatch(value):
            raise ValueError
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{value[:80]}' is not RFC 3339, e.g. 2026-03-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no offset; add Z or +HH:MM")
    try:
        utc = parsed.astimezone(timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise ValueError(f"'{value}' is outside the years {FIRST_YEAR}-{LAST_YEAR} (UTC)")
    return utc


def parse_profile(data: Any) -> tuple[str, dict[str, Any]]:
    """A `--profiles` line of `nudge simulate`: the customer id and traits, held to the limits of events."""
    if not isinstance(data, dict) or not isinstance(data.get("customer_id"), str) or not isinstance(data.get("traits", {}), dict):
        raise EventError("profile", 'expected {"customer_id": "...", "traits": {...}}')
    if problem := customer_id_problem(data["customer_id"]):
        raise EventError("customer_id", problem)
    traits: dict[str, Any] = data.get("traits", {})
    check_object(traits, "traits")
    return data["customer_id"], check_reserved(traits)


def parse_event(data: Any, *, received_at: datetime | None = None, future_skew: timedelta = DEFAULT_FUTURE_SKEW,
                declared: DeclaredData | None = None, tally: DataTally | None = None) -> Event:
    """Validate one event received at `received_at` (a missing timestamp takes it; without it, one is required).

    With `declared` data (SPEC §9) a nonconforming event is refused when it is strict; `tally` counts
    every event that passed the limits, by type, and its problems."""
    model = common_shape(data) or _modelled(data)
    check_object(model.properties, "properties")
    check_object(model.traits, "traits")
    traits = check_reserved(model.traits)
    timestamp = model.timestamp or received_at
    if timestamp is None:
        raise EventError("timestamp", "required (RFC 3339 with an offset)")
    if received_at is not None and timestamp - received_at > future_skew:
        receipt = received_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        raise EventError("timestamp", f"more than settings.future_skew ({span(future_skew)}) after the time of "
                                      f"receipt ({receipt}); check the sender's clock")
    problems = conformance_problems(model.type, model.properties, traits, declared) if declared else []
    if tally is not None:
        tally.observe(model.type, problems)
    if declared is not None and declared.strict and problems:
        field, _, reason = problems[0].partition(": ")
        raise EventError(field, f"{reason} (data.strict: true)")
    if timestamp.tzinfo is not timezone.utc:
        timestamp = timestamp.astimezone(timezone.utc)
    return event(model.type, timestamp, model.id, model.customer_id, model.anonymous_id, model.properties, traits)


_new = object.__new__


def event(kind: str, timestamp: datetime, event_id: str | None, customer_id: str | None, anonymous_id: str | None,
          properties: dict[str, Any], traits: dict[str, Any]) -> Event:
    """`Event(...)` without its frozen `__init__`, which sets each field through `object.__setattr__` (a sixth of
    ingest's parse); the same attributes in the same order (vars() is what the ingest writes), unstamped."""
    made = _new(Event)
    made.__dict__.update(type=kind, timestamp=timestamp, id=event_id, customer_id=customer_id,
                         anonymous_id=anonymous_id, properties=properties, traits=traits, received_at=None)
    return made


def span(duration: timedelta) -> str:
    """A duration as settings write it (5m, 2h, 90s)."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
