"""`nudge simulate`: the engine over recorded events with a virtual clock (SPEC §7)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from engine.effects import Diagnostic, Effect, Output, Schedule, Timer
from engine.events import Event
from engine.links import SignedLinks
from engine.machine import Engine
from engine.memory_store import MemoryStore
from engine.model import Workspace

SIMULATE_SECRET = b"nudge-simulate"   # nothing is sent, so the links need only be stable
SIMULATE_BASE_URL = "https://nudge.invalid"
DEFAULT_RUN_ON = timedelta(days=30)


@dataclass
class Result:
    records: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class VirtualClock:
    """Timers in due order; ties keep the order in which they were set."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._seq = 0
        self.now: datetime | None = None

    def schedule(self, timer: Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (timer.due, self._seq, timer))

    def pop_due(self, before: datetime, inclusive: bool) -> Timer | None:
        if self._heap and (self._heap[0][0] < before or (inclusive and self._heap[0][0] == before)):
            return heapq.heappop(self._heap)[2]
        return None

    def __len__(self) -> int:
        return len(self._heap)


def simulate(workspace: Workspace, events: Iterable[Event], profiles: Iterable[tuple[str, dict[str, Any]]] = (),
             until: datetime | None = None, progress: Callable[[int], None] | None = None) -> Result:
    """Process events in journey-time order (stable), firing timers at their due times: an event's
    `received_at` when the line carries it (a replayed export; then lateness counts too), else
    its timestamp (SPEC §14)."""
    ordered = sorted(events, key=lambda e: e.journey_time)
    if until is None and ordered:
        until = ordered[-1].journey_time + DEFAULT_RUN_ON
    result = Result()
    if until is None:
        return result
    engine = Engine(workspace, MemoryStore(), SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL))
    clock = VirtualClock()
    start = ordered[0].journey_time if ordered else until - DEFAULT_RUN_ON
    clock.now = start

    def apply(effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Output):
                result.records.append(effect.record)
            elif isinstance(effect, Schedule):
                clock.schedule(effect.timer)
            elif isinstance(effect, Diagnostic):
                result.diagnostics.append(effect)

    def fire_until(moment: datetime, inclusive: bool) -> None:
        while (timer := clock.pop_due(moment, inclusive)) is not None:
            clock.now = max(clock.now or timer.due, timer.due)
            apply(engine.fire(timer, clock.now))

    for customer_id, traits in profiles:
        apply(engine.import_profile(customer_id, traits, start))
    for n, event in enumerate(ordered, 1):
        at = event.journey_time
        if at > until:
            break
        # an event stamped at or before a timer's due time goes first (SPEC §4)
        fire_until(at, inclusive=False)
        clock.now = max(clock.now or at, at)
        apply(engine.handle_event(event, late=event.late(workspace.settings.late_events)))
        if progress and n % 10_000 == 0:
            progress(n)
    fire_until(until, inclusive=True)
    return result
