"""The one way an event from outside enters: validated per SPEC §8, then submitted to the runtime's durable stream."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.runtimes.kernel.port import Runtime
from rules.data import DataTally
from rules.events import parse_event
from rules.problems import EventError


@dataclass(frozen=True)
class Ingested:
    """What became of a posted batch: `rejected` names each refused item's index, field and reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected, "ids": self.ids}


async def ingest(runtime: Runtime, items: list[Any], received: datetime, tally: DataTally | None) -> Ingested:
    """Parse every item (an id is assigned where none was sent) against the workspace's declared data
    (SPEC §9, counted in `tally`) and submit the valid ones at once."""
    skew, declared = runtime.workspace.settings.future_skew, runtime.workspace.data
    events, rejected = [], []
    for index, item in enumerate(items):
        try:
            if isinstance(item, dict) and not item.get("id"):
                item = {**item, "id": "evt_" + uuid.uuid4().hex}
            events.append(parse_event(item, received_at=received, future_skew=skew, declared=declared, tally=tally))
        except EventError as exc:
            rejected.append({"index": index, "field": exc.field, "reason": exc.reason})
    runtime.counters.rejected += len(rejected)
    if not events:
        return Ingested(rejected=rejected)
    accepted = await runtime.submit(events)
    return Ingested(accepted.accepted, accepted.duplicates, rejected, [e.id for e in events if e.id])
