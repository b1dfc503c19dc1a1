"""What an event does to a customer's running instances (SPEC §4 step 2): goals, exits, awaited events."""

from __future__ import annotations

from typing import Any

from engine.conditions import attempt, matches
from engine.effects import ExitReason
from engine.interpreter import Interpreter
from engine.model import WaitFor, Workspace
from engine.state import Waiting
from engine.turn import Turn


class Progress:
    """Running instances, in journey order, against one incoming event."""

    def __init__(self, workspace: Workspace, interpreter: Interpreter) -> None:
        self.journeys = workspace.journeys
        self.interpreter = interpreter

    def advance(self, turn: Turn, event: dict[str, Any]) -> None:
        """In journey order: a goal inside its window converts (even after completion); then exit_on,
        a goal's exit, or a matching wait_for resumes the instance."""
        state = turn.state
        if not state.instances and not state.history:
            return  # no instance and no goal window: nothing for any journey (a new customer's first event)
        awaiting = Waiting.EVENT  # read once: an enum member lookup costs five plain ones, per instance per event
        for journey in self.journeys:
            inst = state.instances.get(journey.id)
            history = state.history.get(journey.id)
            goal_hit = False
            if journey.goal and history and history.goal_from and not history.converted:
                goal = journey.goal
                if (event["type"] == goal.match.event
                        and history.goal_from <= turn.now <= history.goal_from + goal.within
                        and matches(turn, journey, inst, goal.match, event, "goal")):
                    history.converted = True
                    goal_hit = True
                    value = attempt(turn, journey, inst, goal.value, "goal", event)[1] if goal.value else None
                    turn.out(journey.id, "converted", value=_number(value))
            if inst is None:
                continue
            if any(matches(turn, journey, inst, m, event, "exit_on") for m in journey.exit_on):
                turn.exit(journey.id, inst, ExitReason.EXIT_EVENT)
            elif goal_hit and journey.goal and journey.goal.exit:
                turn.exit(journey.id, inst, ExitReason.GOAL)
            elif inst.waiting == awaiting:
                action = journey.program[inst.pc].action
                assert isinstance(action, WaitFor)
                if matches(turn, journey, inst, action.match, event, inst.step_id):
                    inst.event = event
                    self.interpreter.run(turn, journey, inst, action.then_pc)


def _number(value: Any) -> Any:
    """A goal's value counts as revenue only when it is a number."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
