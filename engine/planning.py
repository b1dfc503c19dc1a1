"""Date and inactivity triggers planned ahead as timers, re-planned when their inputs change (SPEC §4)."""

from __future__ import annotations

from datetime import datetime

from engine.effects import TimerKind
from engine.model import DateTrigger, InactivityTrigger, Journey, Workspace
from engine.scheduling import customer_zone, next_date_occurrence, parse_date
from engine.turn import Turn, iso


def plan(turn: Turn, journey_id: str, kind: TimerKind, due: datetime, token: str) -> None:
    """One planned timer per journey; a fired timer whose token differs from the plan is stale."""
    turn.state.plans[journey_id] = token
    turn.schedule(due, kind, journey_id, token)


class Planner:
    """The workspace's date and inactivity journeys, indexed once."""

    def __init__(self, workspace: Workspace) -> None:
        self.settings = workspace.settings
        self.date_journeys: list[tuple[Journey, DateTrigger]] = [
            (j, j.trigger) for j in workspace.journeys if isinstance(j.trigger, DateTrigger)]
        self.idle_journeys: dict[str, list[tuple[Journey, InactivityTrigger]]] = {}
        for j in workspace.journeys:
            if isinstance(j.trigger, InactivityTrigger):
                self.idle_journeys.setdefault(j.trigger.event, []).append((j, j.trigger))

    def dates(self, turn: Turn, *, after: datetime | None = None) -> None:
        """(Re)plan date triggers after a trait change; unchanged plans schedule nothing."""
        state = turn.state
        for journey, trigger in self.date_journeys:
            day = parse_date(state.traits.get(trigger.trait))
            if day is None or not journey.enabled:
                state.plans.pop(journey.id, None)
                continue
            tz = customer_zone(state.traits.get("timezone"), self.settings.timezone)
            due = next_date_occurrence(after or turn.now, day, trigger.offset, trigger.at, tz, trigger.yearly)
            if due is None:
                state.plans.pop(journey.id, None)
                continue
            token = f"{day.isoformat()}@{iso(due)}"
            if state.plans.get(journey.id) != token:
                plan(turn, journey.id, TimerKind.DATE, due, token)

    def inactivity(self, turn: Turn, event_type: str) -> None:
        """Arm the inactivity triggers counted from `event_type`; an armed one re-checks when it fires."""
        state = turn.state
        for journey, trigger in self.idle_journeys.get(event_type, ()):
            if journey.id not in state.plans and journey.enabled:
                due = state.activity[event_type]["last_at"] + trigger.duration
                plan(turn, journey.id, TimerKind.INACTIVITY, due, iso(due))
