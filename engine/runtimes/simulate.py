"""`nudge simulate`: the engine over recorded events with a virtual clock (SPEC §7)."""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from engine import broadcasts
from engine.effects import Diagnostic, Effect, Exposure, Message, Timer, TimerKind
from engine.events import Event
from engine.experiments import ExperimentKey, Ledger, experiments_of, first_check
from engine.links import SignedLinks
from engine.machine import Engine, iso
from engine.memory_store import MemoryStore
from engine.model import Journey, Workspace
from engine.runtimes.kernel import applier

SIMULATE_SECRET = b"nudge-simulate"   # nothing is sent, so the links need only be stable
SIMULATE_BASE_URL = "https://nudge.invalid"
DEFAULT_RUN_ON = timedelta(days=30)
START = ""  # the key of a broadcast's start on the virtual clock: no customer has an empty key


@dataclass(frozen=True)
class Rejected:
    """An input line refused at the boundary (SPEC §8); `at` places its record among the others."""

    line: int
    at: datetime
    reason: str

    def record(self) -> dict[str, Any]:
        return {"at": iso(self.at), "type": "rejected", "line": self.line, "reason": self.reason}


@dataclass
class Result:
    records: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class VirtualClock:
    """Timers in due order; ties keep the order in which they were set."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._cancelled: set[str] = set()
        self._seq = 0
        self.now: datetime | None = None

    def schedule(self, timer: Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (timer.due, self._seq, timer))

    def cancel(self, timer_id: str) -> None:
        """Dropped when it reaches the top of the heap, never fired."""
        self._cancelled.add(timer_id)

    def pop_due(self, before: datetime, inclusive: bool) -> Timer | None:
        self._drop_cancelled()
        if self._heap and (self._heap[0][0] < before or (inclusive and self._heap[0][0] == before)):
            return heapq.heappop(self._heap)[2]
        return None

    def next_due(self) -> datetime | None:
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def _drop_cancelled(self) -> None:
        while self._cancelled and self._heap and self._heap[0][2].id in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap)[2].id)

    def __len__(self) -> int:
        return len(self._heap)


class Checks:
    """Winner decision times (SPEC §11), in due order; ties keep the order in which they were set."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, ExperimentKey]] = []
        self._seq = 0

    def push(self, due: datetime, key: ExperimentKey) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[datetime, ExperimentKey]:
        due, _, key = heapq.heappop(self._heap)
        return due, key


class _Sink:
    """Records and diagnostics into the result, timers onto the virtual clock, exposures into the
    experiments' ledger (the first arms the experiment's decision); nothing is sent."""

    def __init__(self, result: Result, clock: VirtualClock, ledger: Ledger, checks: Checks) -> None:
        self.result, self.clock, self.ledger, self.checks = result, clock, ledger, checks

    def record(self, record: dict[str, Any]) -> None:
        self.result.records.append(record)
        if self.ledger.experiments:
            self.ledger.record(record)

    def expose(self, exposure: Exposure) -> None:
        e = exposure
        if self.ledger.expose(e.journey, e.step, e.arm, e.customer, e.message_id, e.at):
            key = (e.journey, e.step)
            if (rule := self.ledger.experiments[key].rule) is not None:
                self.checks.push(first_check(rule, e.at), key)

    def dispatch(self, message: Message) -> None:
        """Simulate sends nothing: its `send` records say what would have gone out."""

    def schedule(self, timer: Timer) -> None:
        self.clock.schedule(timer)

    def unschedule(self, timer_id: str) -> None:
        self.clock.cancel(timer_id)

    def diagnose(self, diagnostic: Diagnostic) -> None:
        self.result.diagnostics.append(diagnostic)


def simulate(workspace: Workspace, events: Iterable[Event], profiles: Iterable[tuple[str, dict[str, Any]]] = (),
             until: datetime | None = None, progress: Callable[[int], None] | None = None,
             rejected: Iterable[Rejected] = ()) -> Result:
    """Process events in journey-time order (stable), firing timers at their due times: an event's
    `received_at` when the line carries it (a replayed export; then lateness counts too), else
    its timestamp (SPEC §14).

    The record of a `rejected` line comes first among the records of its `at`; those after `until` close the output.
    """
    ordered = sorted(events, key=lambda e: e.journey_time)
    refusals = deque(sorted(rejected, key=lambda r: (r.at, r.line)))
    if until is None and ordered:
        until = ordered[-1].journey_time + DEFAULT_RUN_ON
    result = Result()
    if until is None:
        result.records.extend(r.record() for r in refusals)
        return result
    store = MemoryStore()
    engine = Engine(workspace, store, SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL))
    clock = VirtualClock()
    waves = {j.id: broadcasts.first_wave(broadcasts.schedule_of(j)) for j in workspace.broadcasts if j.enabled}
    start = min([*([ordered[0].journey_time] if ordered else [until - DEFAULT_RUN_ON]), *waves.values()])
    clock.now = start
    for journey_id, wave in waves.items():  # each starts at its first wave, in journey-time order with the events
        if wave <= until:
            clock.schedule(Timer(wave, START, TimerKind.BROADCAST, journey_id, ""))
    ledger, checks = Ledger(experiments_of(workspace)), Checks()

    sink = _Sink(result, clock, ledger, checks)
    started: list[Journey] = []  # broadcasts under way: a customer first known now may still join them

    def apply(effects: list[Effect]) -> None:
        applier.apply(effects, sink)

    def refuse_until(moment: datetime, inclusive: bool) -> None:
        while refusals and (refusals[0].at < moment or (inclusive and refusals[0].at == moment)):
            result.records.append(refusals.popleft().record())

    def decide(at: datetime, key: ExperimentKey) -> None:
        """A winner check: the winner is applied to every later send, else the next check is set."""
        decision = ledger.decide(key, at)
        if decision.winner is None:
            assert decision.next_at is not None
            checks.push(decision.next_at, key)
            return
        store.winners[key] = ledger.winners[key] = decision.winner
        result.records.append(decision.record(iso(at)))

    def fire_until(moment: datetime, inclusive: bool) -> None:
        """Timers, and winner checks after the timers due at the same time, up to `moment`."""
        while True:
            due, check = clock.next_due(), checks.next_due()
            soonest = due if check is None or (due is not None and due <= check) else check
            # a refused line due no later than the next timer is reported first, as an event would be handled
            refuse_until(*((soonest, True) if soonest is not None and soonest < moment else (moment, inclusive)))
            if soonest is None or soonest > moment or (soonest == moment and not inclusive):
                return
            clock.now = max(clock.now or soonest, soonest)
            if soonest is not due:
                decide(*checks.pop())
                continue
            timer = clock.pop_due(moment, inclusive)
            assert timer is not None  # next_due dropped the cancelled ones
            if timer.key == START:
                journey = engine.by_id[timer.journey]
                apply(broadcasts.plan(journey, store.customers.values(), workspace.settings, clock.now))
                started.append(journey)
            else:
                apply(engine.fire(timer, clock.now))

    refuse_until(start, inclusive=False)
    for customer_id, traits in profiles:
        apply(engine.import_profile(customer_id, traits, start))
    for n, event in enumerate(ordered, 1):
        at = event.journey_time
        if at > until:
            break
        # an event stamped at or before a timer's due time goes first (SPEC §4)
        fire_until(at, inclusive=False)
        refuse_until(at, inclusive=True)
        clock.now = max(clock.now or at, at)
        if ledger.experiments:
            ledger.event(event.type, event.properties)
        new = started and event.customer_id is not None and event.customer_id not in store.customers
        apply(engine.handle_event(event, late=event.late(workspace.settings.late_events)))
        if new and (state := store.customer(str(event.customer_id))) is not None:
            for journey in started:
                apply(broadcasts.newcomer(journey, state, workspace.settings, clock.now))
        if progress and n % 10_000 == 0:
            progress(n)
    fire_until(until, inclusive=True)
    result.records.extend(r.record() for r in refusals)
    return result
