"""CustomerState to and from JSON-ready dicts, so durable stores keep it as one row.

Version-tolerant: a field added later is read with its default when a row written before it lacks it,
so states saved by an older Nudge (before repeats, say) still load after an upgrade.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from engine.state import ActivityMap, CustomerState, Instance, JourneyHistory


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _event_in(event: dict[str, Any]) -> dict[str, Any]:
    ts = event.get("timestamp")
    return {**event, "timestamp": datetime.fromisoformat(ts)} if isinstance(ts, str) else event


FORMAT = 2  # 1 (no `format` key): before repeats; 2: instances carry `iterations` and `woke`


def dumps(state: CustomerState) -> bytes:
    """orjson writes dataclasses and aware datetimes (RFC 3339) natively; the format leads the object."""
    return b'{"format":%d,' % FORMAT + orjson.dumps(state)[1:]


def loads(data: bytes | str) -> CustomerState:
    raw = orjson.loads(data)
    return CustomerState(
        key=raw["key"],
        customer_id=raw["customer_id"],
        anonymous_id=raw["anonymous_id"],
        traits=raw["traits"],
        activity=ActivityMap({
            t: {"count": a["count"], "first_at": _dt(a["first_at"]), "last_at": _dt(a["last_at"]),
                **({"hours": a["hours"]} if "hours" in a else {})}  # opens and clicks by local hour (best time)
            for t, a in raw["activity"].items()
        }),
        instances={j: Instance(
            id=i["id"], journey=i["journey"], entered_at=_dt(i["entered_at"]),  # type: ignore[arg-type]
            trigger_event=_event_in(i["trigger_event"]), event=_event_in(i["event"]), pc=i["pc"],
            step_id=i["step_id"], generation=i["generation"], waiting=i["waiting"], due=_dt(i["due"]),
            variants=i["variants"], iterations=i.get("iterations", {}),
            woke={step: datetime.fromisoformat(at) for step, at in i.get("woke", {}).items()},
        ) for j, i in raw["instances"].items()},
        history={j: JourneyHistory(
            entries=h["entries"], last_entered_at=_dt(h["last_entered_at"]),
            last_exited_at=_dt(h["last_exited_at"]), goal_from=_dt(h["goal_from"]), converted=h["converted"],
        ) for j, h in raw["history"].items()},
        sent=[(ch, datetime.fromisoformat(at)) for ch, at in raw["sent"]],
        plans=raw["plans"],
    )
