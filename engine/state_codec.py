"""CustomerState to and from JSON-ready dicts, so durable stores keep it as one row.

Version-tolerant: a field added later is read with its default when a row written before it lacks it,
so states saved by an older Nudge (before repeats, say) still load after an upgrade.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from engine.state import ActivityMap, CustomerState, Instance, JourneyHistory, Waiting


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _event_in(event: dict[str, Any]) -> dict[str, Any]:
    ts = event.get("timestamp")
    return {**event, "timestamp": datetime.fromisoformat(ts)} if isinstance(ts, str) else event


FORMAT = 2  # 1 (no `format` key): before repeats; 2: instances carry `iterations` and `woke`


def dumps(state: CustomerState) -> bytes:
    """orjson writes dataclasses and aware datetimes (RFC 3339) natively; the format leads the object."""
    return _HEAD + orjson.dumps(state)[1:]


_HEAD = b'{"format":%d,' % FORMAT


def loads(data: bytes | str) -> CustomerState:
    raw = orjson.loads(data)
    instances, history, sent = raw["instances"], raw["history"], raw["sent"]
    return CustomerState(
        key=raw["key"],
        customer_id=raw["customer_id"],
        anonymous_id=raw["anonymous_id"],
        traits=raw["traits"],
        activity=_activity(raw["activity"]),
        instances={j: Instance(
            id=i["id"], journey=i["journey"], entered_at=_dt(i["entered_at"]),  # type: ignore[arg-type]
            trigger_event=_event_in(i["trigger_event"]), event=_event_in(i["event"]), pc=i["pc"],
            step_id=i["step_id"], generation=i["generation"], due=_dt(i["due"]),
            waiting=Waiting(i["waiting"]) if i["waiting"] is not None else None,  # unknown: ValueError
            variants=i["variants"], iterations=i.get("iterations", {}),
            woke={step: datetime.fromisoformat(at) for step, at in i.get("woke", {}).items()},
        ) for j, i in instances.items()} if instances else {},
        history={j: JourneyHistory(
            entries=h["entries"], last_entered_at=_dt(h["last_entered_at"]),
            last_exited_at=_dt(h["last_exited_at"]), goal_from=_dt(h["goal_from"]), converted=h["converted"],
        ) for j, h in history.items()} if history else {},
        sent=[(ch, datetime.fromisoformat(at)) for ch, at in sent] if sent else [],
        plans=raw["plans"],
    )


def _activity(raw: dict[str, dict[str, Any]]) -> ActivityMap:
    """Counts and dates by event type; opens and clicks by local hour too (best time). Every customer's state has
    some: a plain loop, the cheapest way to build it (a broadcast's start reads a million)."""
    activity = ActivityMap()
    for kind, a in raw.items():
        first, last = a["first_at"], a["last_at"]
        entry = {"count": a["count"], "first_at": _fromiso(first) if first else None,
                 "last_at": _fromiso(last) if last else None}
        if "hours" in a:
            entry["hours"] = a["hours"]
        activity[kind] = entry
    return activity


_fromiso = datetime.fromisoformat
