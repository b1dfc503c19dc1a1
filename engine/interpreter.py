"""The step interpreter: runs an instance's compiled program until it waits or ends (SPEC §4 steps)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import assert_never

from engine.cohorts import assign
from engine.conditions import attempt, holds
from engine.effects import ExitReason, Timer
from engine.best_time import best_moment, engagement
from engine.model import (ExitStep, If, Journey, Jump, Repeat, Send, Split, Update, Wait, WaitBest, WaitFor, WaitUntil,
                          Workspace)
from engine.planning import Planner
from engine.scheduling import chosen_days, chosen_time, customer_zone, next_local_time
from engine.sending import Sending
from engine.state import Instance, Waiting
from engine.turn import Flow, Turn


class Interpreter:
    """Steps run in place on the instance; sends go to Sending, trait changes re-plan dates."""

    def __init__(self, workspace: Workspace, sending: Sending, planner: Planner) -> None:
        self.settings = workspace.settings
        self.journeys = workspace.journeys
        self.sending = sending
        self.planner = planner

    def run(self, turn: Turn, journey: Journey, inst: Instance, pc: int, *, deferred: bool = False) -> None:
        """Run from `pc` until the instance waits or ends; only a repeat loops, and it has a wait and a bound."""
        program = journey.program
        inst.waiting = None
        inst.due = None
        while True:
            if pc >= len(program):
                turn.exit(journey.id, inst, ExitReason.COMPLETED)
                return
            ins = program[pc]
            action = ins.action
            if not isinstance(action, Jump):
                inst.pc, inst.step_id = pc, ins.step_id  # where it stands, for exits and live edits
            match action:
                case Jump():
                    pc = action.target
                case Send():
                    flow = self.sending.run(turn, journey, inst, action, deferred)
                    deferred = False
                    match flow:
                        case Flow.NEXT:
                            pc += 1
                        case Flow.STOP:
                            return
                        case _:
                            assert_never(flow)
                case Wait():
                    turn.park(journey.id, inst, Waiting.TIMER, turn.now + action.duration)
                    return
                case WaitUntil():
                    turn.park(journey.id, inst, Waiting.TIMER, self._wake_up(turn, journey, inst, action))
                    return
                case WaitBest():
                    tz = customer_zone(turn.state.traits.get("timezone"), self.settings.timezone)
                    due = best_moment(turn.now, action.window, engagement(turn.state.activity), tz)
                    turn.park(journey.id, inst, Waiting.TIMER, due)
                    return
                case WaitFor():
                    turn.park(journey.id, inst, Waiting.EVENT, turn.now + action.timeout)
                    return
                case If():
                    pc = pc + 1 if holds(turn, journey, inst, action.condition, ins.step_id) else action.else_pc
                case Split():
                    variant = self.sending.tests.enter(turn, journey.id, ins.step_id, action,
                                                       assign(turn.state.customer_id or turn.state.key, journey.id, action))
                    inst.variants[action.name] = variant.name
                    pc = variant.pc
                case Update():
                    self._update(turn, journey, inst, action, ins.step_id)
                    pc += 1
                case Repeat():
                    passes = inst.iterations.get(action.key, 0)
                    if passes >= action.times or (
                            action.until is not None and holds(turn, journey, inst, action.until, ins.step_id)):
                        inst.iterations.pop(action.key, None)
                        pc = action.end_pc
                    else:
                        inst.iterations[action.key] = passes + 1
                        pc += 1
                case ExitStep():
                    turn.exit(journey.id, inst, ExitReason.EXIT_STEP)
                    return
                case _:
                    assert_never(action)

    def resume(self, turn: Turn, journey: Journey, timer: Timer) -> None:
        """A step timer fired: go on after the wait, take a wait_for's `else`, or retry a held send."""
        inst = turn.state.instances.get(journey.id)
        if inst is None or f"{inst.id}#{inst.generation}" != timer.token:
            return  # stale: the instance moved on or ended since
        waiting = inst.waiting
        match waiting:  # the commonest first: each case is an enum member lookup
            case Waiting.TIMER | None:
                if inst.iterations and inst.due is not None and isinstance(journey.program[inst.pc].action, WaitUntil):
                    inst.woke[inst.step_id] = inst.due  # the next pass wakes strictly after it
                self.run(turn, journey, inst, inst.pc + 1)
            case Waiting.EVENT:
                action = journey.program[inst.pc].action
                assert isinstance(action, WaitFor)  # live edits exit instances whose step changed kind
                self.run(turn, journey, inst, action.else_pc)
            case Waiting.QUIET:
                self.run(turn, journey, inst, inst.pc, deferred=True)
            case _:
                assert_never(waiting)

    def replan(self, turn: Turn) -> None:
        """The profile changed: instances waiting for a time the customer chooses wake at the new one."""
        instances = turn.state.instances
        if not instances:
            return
        for journey in self.journeys:
            inst = instances.get(journey.id)
            if inst is None or inst.waiting != Waiting.TIMER:  # a decoded state holds the plain string
                continue
            action = journey.program[inst.pc].action
            if isinstance(action, WaitUntil) and action.chosen:
                due = self._wake_up(turn, journey, inst, action)
                if due != inst.due:
                    turn.park(journey.id, inst, Waiting.TIMER, due)  # the new generation makes the old timer stale

    def _wake_up(self, turn: Turn, journey: Journey, inst: Instance, action: WaitUntil) -> datetime:
        """SPEC §4, §15: the next local time in the customer's zone, read from their profile when chosen
        (the default when it gives none); in a repeat, strictly after the previous pass's wake-up here."""
        at, days = action.at, action.days
        if action.at_expr is not None:
            ok, value = attempt(turn, journey, inst, action.at_expr, inst.step_id)
            if (chosen := chosen_time(value) if ok else None) is not None:
                at = chosen
            elif ok and value is not None:  # a value the site sent that is no time: the marketer should know
                turn.diag(journey.id, inst.step_id, f"'{action.at_expr.source}' gave {value!r}, not a time HH:MM "
                                                    f"(24-hour): the default {action.at:%H:%M} applies")
        if action.days_expr is not None:
            ok, value = attempt(turn, journey, inst, action.days_expr, inst.step_id)
            if (weekdays := chosen_days(value) if ok else None) is not None:
                days = weekdays
            elif ok and value is not None:
                turn.diag(journey.id, inst.step_id, f"'{action.days_expr.source}' gave {value!r}, not a list of "
                                                    "weekdays (mon ... sun): the default days apply")
        tz = customer_zone(turn.state.traits.get("timezone"), self.settings.timezone)
        since = turn.now
        previous = inst.woke.get(inst.step_id)
        if previous is not None and previous >= since:
            since = previous + timedelta(microseconds=1)
        return next_local_time(since, at, tz, days)

    def _update(self, turn: Turn, journey: Journey, inst: Instance, update: Update, step: str) -> None:
        traits = turn.state.traits
        before = dict(traits)
        for key, expr in update.set.items():
            ok, value = attempt(turn, journey, inst, expr, step)
            if ok:
                traits[key] = value
        for key, expr in update.increment.items():
            ok, value = attempt(turn, journey, inst, expr, step)
            current = traits.get(key, 0)
            if ok and isinstance(value, int | float) and isinstance(current, int | float) and not isinstance(value, bool):
                traits[key] = current + value
            elif ok:
                turn.diag(journey.id, step, f"cannot increment '{key}' ({current!r}) by {value!r}")
        for key in update.unset:
            traits.pop(key, None)
        if traits != before:
            self.planner.dates(turn)
            self.replan(turn)
