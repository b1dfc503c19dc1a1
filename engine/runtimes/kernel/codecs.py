"""The byte forms an event, a message and a record take in a runtime's tables and topics: one for all runtimes."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

import orjson

from engine.effects import Message, Timer, TimerKind
from engine.events import Event


MESSAGE_FIELDS = frozenset(f.name for f in fields(Message))


def epoch(at: datetime) -> float:
    return at.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def timer_from_row(due: float, key: str, kind: str, journey: str, token: str) -> Timer:
    """A timer as a table row or a changelog record keeps it; its kind is a `TimerKind` again (unknown: ValueError)."""
    return Timer(from_epoch(due), key, TimerKind(kind), journey, token)


def event_from_json(raw: dict[str, Any], received_at: datetime | None = None) -> Event:
    """An event a runtime stored (checked at the edge when it came): its fields set in one step, in their order, where
    the frozen dataclass's `__init__` sets them one by one through `object.__setattr__` (a third of the cost of
    reading an event back, on the engine's hot path). `received_at`: when it was accepted, if the caller has it
    apart from the row (else the row's)."""
    if received_at is None and (stamp := raw.get("received_at")):
        received_at = _fromiso(stamp)
    event = _new_event(Event)
    _set_fields(event, "__dict__", {
        "type": raw["type"], "timestamp": _fromiso(raw["timestamp"]), "id": raw["id"],
        "customer_id": raw["customer_id"], "anonymous_id": raw["anonymous_id"],
        "properties": raw["properties"], "traits": raw["traits"], "received_at": received_at})
    return event


_new_event = object.__new__
_set_fields = object.__setattr__
_fromiso = datetime.fromisoformat


def event_from_row(body: bytes) -> Event:
    return event_from_json(orjson.loads(body))


def event_to_row(event: Event) -> bytes:
    return orjson.dumps(event)


def message_payload(message: Message) -> dict[str, Any]:
    """The message as the outbox keeps it and a connector reads it back: its fields in order, the
    values as they are. A copy of its `__dict__`, which a dataclass's `__init__` fills field by field in
    their order (`asdict` deep-copies the headers and body, and a comprehension over the fields costs
    twice the copy, per message on the hot path, for a dict that is only serialised)."""
    return dict(vars(message))


def message_from_payload(payload: dict[str, Any]) -> Message:
    """The message an outbox payload holds; keys it does not know (a Kafka `origin`) are left out."""
    return Message(**{k: v for k, v in payload.items() if k in MESSAGE_FIELDS})


def outbox_row(payload: dict[str, Any], origin: float) -> tuple[Any, ...]:
    """An `outbox` row (id, channel, customer, journey, step, payload, origin); `origin` is when its input came."""
    return (payload["id"], payload["channel"], payload["customer_id"], payload["journey"], payload["step"],
            orjson.dumps(payload), origin)


def record_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """A `records` row (at, customer, journey, type, body)."""
    return (record["at"], record.get("customer_id") or record.get("anonymous_id"), record["journey"], record["type"],
            orjson.dumps(record))


OUTBOX_INSERT = ("INSERT OR IGNORE INTO outbox (id, channel, customer, journey, step, payload, origin) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")
RECORD_INSERT = "INSERT INTO records (at, customer, journey, type, body) VALUES (?, ?, ?, ?, ?)"
