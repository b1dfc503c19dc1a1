"""The step interpreter: runs an instance's compiled program until it waits or ends (SPEC §4 steps)."""

from __future__ import annotations

from typing import assert_never

from engine.cohorts import assign
from engine.conditions import attempt, holds
from engine.effects import ExitReason, Timer
from engine.model import ExitStep, If, Journey, Jump, Send, Split, Update, Wait, WaitFor, WaitUntil, Workspace
from engine.planning import Planner
from engine.scheduling import customer_zone, next_local_time
from engine.sending import Sending
from engine.state import Instance, Waiting
from engine.turn import Flow, Turn


class Interpreter:
    """Steps run in place on the instance; sends go to Sending, trait changes re-plan dates."""

    def __init__(self, workspace: Workspace, sending: Sending, planner: Planner) -> None:
        self.settings = workspace.settings
        self.sending = sending
        self.planner = planner

    def run(self, turn: Turn, journey: Journey, inst: Instance, pc: int, *, deferred: bool = False) -> None:
        """Run from `pc` until the instance waits or ends; no step loops, so this ends."""
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
                    tz = customer_zone(turn.state.traits.get("timezone"), self.settings.timezone)
                    turn.park(journey.id, inst, Waiting.TIMER, next_local_time(turn.now, action.at, tz, action.days))
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
                self.run(turn, journey, inst, inst.pc + 1)
            case Waiting.EVENT:
                action = journey.program[inst.pc].action
                assert isinstance(action, WaitFor)  # live edits exit instances whose step changed kind
                self.run(turn, journey, inst, action.else_pc)
            case Waiting.QUIET:
                self.run(turn, journey, inst, inst.pc, deferred=True)
            case _:
                assert_never(waiting)

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
