"""How a customer enters a journey (SPEC §4): an event trigger, a due date or inactivity; audience and re-entry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.conditions import holds
from engine.effects import ExitReason, Timer, TimerKind
from engine.interpreter import Interpreter
from engine.model import DateTrigger, EventTrigger, InactivityTrigger, Journey, ReentryKind, Workspace
from engine.planning import Planner, plan
from engine.state import Instance, JourneyHistory
from engine.turn import Turn, iso


class Triggers:
    """Entries into journeys; every entry runs the interpreter until the first wait."""

    def __init__(self, workspace: Workspace, interpreter: Interpreter, planner: Planner) -> None:
        self.interpreter = interpreter
        self.planner = planner
        # the enabled journeys an event type triggers, in journey order: most events trigger none
        self.by_event: dict[str, list[tuple[Journey, EventTrigger]]] = {}
        for journey in workspace.journeys:
            if journey.enabled and isinstance(journey.trigger, EventTrigger):
                self.by_event.setdefault(journey.trigger.event, []).append((journey, journey.trigger))

    def on_event(self, turn: Turn, event: dict[str, Any]) -> None:
        """SPEC §4 step 3: every journey whose trigger matches, in journey order."""
        for journey, trigger in self.by_event.get(event["type"], ()):
            if trigger.where is None or holds(turn, journey, None, trigger.where, "trigger", event):
                self.enter(turn, journey, event)

    def enter(self, turn: Turn, journey: Journey, event: dict[str, Any]) -> None:
        """Enter if the audience and the re-entry rule allow, and run the steps until the first wait."""
        state, now = turn.state, turn.now
        if journey.audience is not None and not holds(turn, journey, None, journey.audience, "audience", event):
            return
        active = state.instances.get(journey.id)
        history = state.history.get(journey.id)
        rule = journey.reentry
        if rule.kind is ReentryKind.NEVER and history and history.entries:
            return
        if rule.kind in (ReentryKind.AFTER_EXIT, ReentryKind.COOLDOWN) and active is not None:
            return
        if (rule.kind is ReentryKind.COOLDOWN and history and history.last_entered_at
                and now - history.last_entered_at < rule.cooldown):
            return
        if active is not None:  # restart; `never` cannot have an active instance here
            turn.exit(journey.id, active, ExitReason.RESTARTED)
        history = state.history.setdefault(journey.id, JourneyHistory())
        history.entries += 1
        history.last_entered_at = now
        history.goal_from = now
        history.converted = False
        inst = Instance(f"{state.key}:{journey.id}:{history.entries}", journey.id, now, event, event)
        state.instances[journey.id] = inst
        turn.out(journey.id, "entered")
        self.interpreter.run(turn, journey, inst, 0)

    def fire_date(self, turn: Turn, journey: Journey, timer: Timer) -> None:
        state = turn.state
        if state.plans.get(journey.id) != timer.token:
            return  # stale: the date moved since
        trigger = journey.trigger
        assert isinstance(trigger, DateTrigger)
        event = _synthetic(turn, TimerKind.DATE, {"trait": trigger.trait, "date": timer.token.split("@")[0]})
        state.plans.pop(journey.id, None)  # before entering: the journey may move the date itself
        self.enter(turn, journey, event)
        if trigger.yearly:
            self.planner.dates(turn, after=turn.now + timedelta(seconds=1))

    def fire_broadcast(self, turn: Turn, journey: Journey) -> None:
        """A broadcast's moment for this customer (SPEC §13): the audience is judged now, and `never` makes it once."""
        self.enter(turn, journey, _synthetic(turn, TimerKind.BROADCAST, {"broadcast": journey.id}))

    def fire_inactivity(self, turn: Turn, journey: Journey, timer: Timer) -> None:
        state = turn.state
        if state.plans.get(journey.id) != timer.token:
            return
        trigger = journey.trigger
        assert isinstance(trigger, InactivityTrigger)
        state.plans.pop(journey.id, None)
        last = state.activity[trigger.event].get("last_at")
        if last is None:
            return
        due = last + trigger.duration
        if due > turn.now:  # a newer event re-armed it: wait for the new quiet period
            plan(turn, journey.id, TimerKind.INACTIVITY, due, iso(due))
            return
        event = _synthetic(turn, TimerKind.INACTIVITY, {"event_type": trigger.event, "last_at": iso(last)})
        self.enter(turn, journey, event)


def _synthetic(turn: Turn, kind: TimerKind, properties: dict[str, Any]) -> dict[str, Any]:
    """The trigger event of a journey started by time, not by an event."""
    state = turn.state
    return {"id": None, "type": kind.value, "customer_id": state.customer_id, "anonymous_id": state.anonymous_id,
            "timestamp": turn.now, "properties": properties, "traits": {}}
