"""What an edit of the journeys does to customers in flight (SPEC §10), judged before it is applied.

Each instance stays at its step (found by id), moves to the step that claims its old id with
`was:`, or exits `step_removed`; one waiting in a `wait`, `wait_until` or `wait_for` whose
duration or time changed keeps its due time unless the edit reschedules it. `Edit.plan` shows
the verdicts and `Edit.carry_out` (through `Engine.migrate`) does them: one judge, so what the
plan says is what the apply does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from engine.effects import ExitReason
from engine.best_time import best_moment, engagement
from engine.model import Action, Journey, Repeat, Send, Wait, WaitBest, WaitFor, WaitUntil, Workspace
from engine.scheduling import customer_zone, next_local_time
from engine.state import CustomerState, Instance, Waiting
from engine.turn import Turn, iso

LISTED = 20  # customers named per plan row in JSON and text; the count is always whole


class Fate(StrEnum):
    STAY = "stay"  # its step (by id) is still there, wherever it now stands in the file
    MOVE = "move"  # its step is gone and another claims the old id with `was:`
    EXIT = "exit"  # its step is gone, unclaimed (or its journey is): exits with reason step_removed


class Timing(StrEnum):
    SAME = "same"                # not in a timed wait, or the wait did not change
    KEPT = "kept"                # the wait's duration or time changed; the due time planned before stays
    RESCHEDULED = "rescheduled"  # ...and the edit asked for the new duration or time


@dataclass(frozen=True)
class Verdict:
    fate: Fate
    pc: int | None = None
    step_id: str = ""
    timing: Timing = Timing.SAME
    due: datetime | None = None  # the new due time, when rescheduled
    why: str = ""                # why it exits


_PARKED_AT: dict[str, tuple[type, ...]] = {Waiting.TIMER: (Wait, WaitUntil, WaitBest), Waiting.EVENT: (WaitFor,),
                                           Waiting.QUIET: (Send,)}


def _when(action: Action) -> tuple[Any, ...] | None:
    """What sets the due time of a wait at this step."""
    match action:
        case Wait():
            return ("wait", action.duration)
        case WaitUntil():
            return ("wait_until", action.at, action.days, action.at_expr and action.at_expr.source,
                    action.days_expr and action.days_expr.source)
        case WaitBest():
            return ("wait_best", action.window)
        case WaitFor():
            return ("wait_for", action.timeout)
        case _:
            return None


@dataclass(frozen=True)
class Edit:
    """From the running version (`old`; None when unknown, then due times are kept) to `new`."""

    old: Workspace | None
    new: Workspace
    reschedule: bool = False

    @cached_property
    def _new(self) -> dict[str, Journey]:
        return {j.id: j for j in self.new.journeys}

    @cached_property
    def _old(self) -> dict[str, Journey]:
        return {j.id: j for j in self.old.journeys} if self.old else {}

    def judge(self, state: CustomerState, inst: Instance, now: datetime) -> Verdict:
        """Where one instance stands in the new version, and when its wait ends."""
        journey = self._new.get(inst.journey)
        if journey is None:
            return Verdict(Fate.EXIT, why="the journey is gone")
        step_id, fate = inst.step_id, Fate.STAY
        pc = journey.pc_of(step_id) if step_id else None
        if pc is None and step_id in journey.was:
            step_id, fate = journey.was[step_id], Fate.MOVE
            pc = journey.pc_of(step_id)
        if pc is None:
            return Verdict(Fate.EXIT, why="no step has this id now, and none claims it with was:")
        action = journey.program[pc].action
        expected = _PARKED_AT.get(inst.waiting or "", ())
        if expected and not isinstance(action, expected):
            return Verdict(Fate.EXIT, why="the step with this id is now another kind of step")
        timing, due = self._timing(state, inst, action, now)
        return Verdict(fate, pc, step_id, timing, due)

    def _timing(self, state: CustomerState, inst: Instance, action: Action,
                now: datetime) -> tuple[Timing, datetime | None]:
        old_journey = self._old.get(inst.journey)
        old_pc = old_journey.pc_of(inst.step_id) if old_journey else None
        if inst.due is None or inst.waiting not in (Waiting.TIMER, Waiting.EVENT) or old_pc is None:
            return Timing.SAME, None
        assert old_journey is not None
        old = old_journey.program[old_pc].action
        if _when(old) == _when(action):
            return Timing.SAME, None
        if not self.reschedule or (isinstance(action, WaitUntil) and action.chosen):
            return Timing.KEPT, None  # a time the customer chooses is re-planned when their profile changes
        return Timing.RESCHEDULED, max(now, self._due(state, inst, old, action, now))

    def _due(self, state: CustomerState, inst: Instance, old: Action, action: Action, now: datetime) -> datetime:
        """A duration counts from when the wait began (known from the old one); a time of day is the next one from now."""
        due = inst.due or now
        match action:
            case Wait():
                return (due - old.duration if isinstance(old, Wait) else now) + action.duration
            case WaitFor():
                return (due - old.timeout if isinstance(old, WaitFor) else now) + action.timeout
            case WaitUntil():  # as the interpreter: in a repeat, strictly after the previous pass's wake-up
                previous = inst.woke.get(inst.step_id)
                since = previous + timedelta(microseconds=1) if previous is not None and previous >= now else now
                return next_local_time(since, action.at, self._zone(state), action.days)
            case WaitBest():
                return best_moment(now, action.window, engagement(state.activity), self._zone(state))
            case _:
                return due

    def _zone(self, state: CustomerState) -> ZoneInfo:
        return customer_zone(state.traits.get("timezone"), self.new.settings.timezone)

    def carry_out(self, turn: Turn) -> None:
        """Move, exit or re-plan the customer's instances as `judge` says."""
        for journey_id, inst in list(turn.state.instances.items()):
            verdict = self.judge(turn.state, inst, turn.now)
            if verdict.fate is Fate.EXIT or verdict.pc is None:
                turn.exit(journey_id, inst, ExitReason.STEP_REMOVED)
                continue
            inst.pc, inst.step_id = verdict.pc, verdict.step_id
            self._recount(inst)
            if verdict.due is not None and inst.waiting is not None:
                turn.park(journey_id, inst, inst.waiting, verdict.due)  # the old timer goes stale

    def _recount(self, inst: Instance) -> None:
        """Passes of a `repeat` are counted under its id: a renamed one keeps its count, one edited away drops it."""
        journey = self._new[inst.journey]
        keep = {i.action.key for i in journey.program if isinstance(i.action, Repeat)}
        renamed = {journey.was.get(key, key): n for key, n in inst.iterations.items()}
        inst.iterations = {key: n for key, n in renamed.items() if key in keep}

    def plan(self, states: Iterable[CustomerState], now: datetime) -> Plan:
        """Per journey and step: who stays, moves, exits, keeps an old due time or is re-planned."""
        groups: dict[tuple[str, str, Fate, str | None, Timing, str], list[tuple[str, datetime | None]]] = {}
        for state in states:
            who = state.customer_id or state.key
            for inst in state.instances.values():
                v = self.judge(state, inst, now)
                key = (inst.journey, inst.step_id, v.fate, None if v.fate is Fate.EXIT else v.step_id, v.timing, v.why)
                groups.setdefault(key, []).append((who, v.due))
        rows = []
        for (journey, step, fate, to, timing, why), found in sorted(groups.items()):
            found.sort(key=lambda f: f[0])
            rows.append(Row(journey, step, fate, to, timing, why, tuple(c for c, _ in found),
                            {c: due for c, due in found if due is not None}))
        return Plan(tuple(rows), self.reschedule, self.old is not None)


@dataclass(frozen=True)
class Row:
    journey: str
    step: str
    fate: Fate
    to: str | None
    timing: Timing
    why: str
    customers: tuple[str, ...]
    due: Mapping[str, datetime] = field(default_factory=dict)

    def to_json(self, listed: int) -> dict[str, Any]:
        shown = self.customers[:listed]
        body: dict[str, Any] = {"step": self.step, "fate": self.fate.value, "to": self.to, "timing": self.timing.value,
                                "why": self.why or None, "count": len(self.customers), "customers": list(shown),
                                "more": len(self.customers) - len(shown)}
        if self.due:
            body["due"] = {c: iso(self.due[c]) for c in shown if c in self.due}
        return body


@dataclass(frozen=True)
class Plan:
    rows: tuple[Row, ...]
    reschedule: bool
    timing_known: bool  # False when the running version was not known: changed waits could not be told

    def _count(self, **match: Any) -> int:
        return sum(len(r.customers) for r in self.rows if all(getattr(r, k) == v for k, v in match.items()))

    @property
    def in_flight(self) -> int:
        return self._count()

    @property
    def moves(self) -> int:
        return self._count(fate=Fate.MOVE)

    @property
    def exits(self) -> int:
        return self._count(fate=Fate.EXIT)

    def to_json(self, listed: int = LISTED) -> dict[str, Any]:
        journeys: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            journeys.setdefault(row.journey, []).append(row.to_json(listed))
        return {"in_flight": self.in_flight, "stay": self._count(fate=Fate.STAY), "move": self.moves,
                "exit": self.exits, "kept_due": self._count(timing=Timing.KEPT),
                "rescheduled": self._count(timing=Timing.RESCHEDULED), "reschedule": self.reschedule,
                "timing_known": self.timing_known,
                "journeys": [{"journey": j, "steps": steps} for j, steps in journeys.items()]}
