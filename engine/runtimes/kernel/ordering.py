"""Journey time and lateness of a runtime's inputs (SPEC §4, §14), the same in every runtime."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine.events import Event
from engine.model import Workspace

EVENT, TIMER = 0, 1  # at equal journey times an event goes before a timer (SPEC §4)


def received(event: Event, at: datetime, workspace: Workspace) -> tuple[Event, bool]:
    """The event as accepted at `at` (its journey time) and whether it came late: `at` − timestamp > late_events."""
    stamped = event if event.received_at == at else replace(event, received_at=at)  # read back, it mostly is: no copy
    return stamped, is_late(stamped, workspace)


def is_late(event: Event, workspace: Workspace) -> bool:
    return event.late(workspace.settings.late_events)


def input_order(at: float, kind: int, seq: int) -> tuple[float, int, int]:
    """Sort key of a batch's inputs: journey time, then events before timers, then arrival."""
    return (at, kind, seq)

