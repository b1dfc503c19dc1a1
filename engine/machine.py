"""The journey state machine (SPEC §2-§5): pure, given time by its caller, effects as data.

`Engine` is the face the runtimes call: `handle_event` and `fire` read and write customer state
through a Store and return the effects (outcome records, messages, timers) for a runtime to
commit together. The jobs live in their own modules; this one wires them and orders SPEC §4.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_never

from engine.best_time import note_engagement
from engine.confirmation import SUBSCRIBED, SUBSCRIPTION_REQUESTED, Confirmation
from engine.effects import Effect, ExitReason, Timer, TimerKind
from engine.events import Event
from engine.identity import Identity
from engine.interpreter import Interpreter
from engine.migration import Edit
from engine.model import Workspace
from engine.planning import Planner
from engine.ports import Links, Store
from engine.profiles import apply_builtin, count_activity, merge_traits
from engine.progress import Progress
from engine.sending import Sending
from engine.state import ANON, CustomerState
from engine.triggers import Triggers
from engine.turn import Turn, iso

__all__ = ["Engine", "iso"]


class Engine:
    """One per workspace version and store; the runtimes call only these public methods."""

    def __init__(self, workspace: Workspace, store: Store, links: Links) -> None:
        self.workspace = workspace
        self.settings = workspace.settings
        self.store = store
        self.links = links
        self.by_id = {j.id: j for j in workspace.journeys}
        self.planner = Planner(workspace)
        self.identity = Identity(workspace, store, self.planner)
        self.confirmation = Confirmation(workspace, store, links)
        self.interpreter = Interpreter(workspace, Sending(workspace, store, links), self.planner)
        self.progress = Progress(workspace, self.interpreter)
        self.triggers = Triggers(workspace, self.interpreter, self.planner)

    def handle_event(self, event: Event, *, late: bool = False) -> list[Effect]:
        """Process one event at its journey time (SPEC §4, §14); `late` events only update the profile."""
        if event.id is not None:
            if self.store.seen(event.id):
                return []
            self.store.remember(event.id)
        turn = Turn(self.identity.resolve(event), event.journey_time, self.settings)
        state = turn.state
        if event.customer_id is not None and event.anonymous_id is not None:
            self.identity.link(turn, event.anonymous_id)
        changed = merge_traits(state, event.traits)
        count_activity(state, event)
        note_engagement(state, event, self.settings.timezone)
        self.planner.inactivity(turn, event.type)
        apply_builtin(state, event, self.store)
        if event.type == SUBSCRIPTION_REQUESTED:  # first: its confirmation is the one a new address gets
            self.confirmation.requested(turn, event)
        elif event.type == SUBSCRIBED:
            self.confirmation.consented(turn, event)
        if changed:
            self.planner.dates(turn)
            self.interpreter.replan(turn)
            if self.settings.double_opt_in:
                self.confirmation.request(turn)
        if not late:
            ctx_event = event.context()
            self.progress.advance(turn, ctx_event)
            self.triggers.on_event(turn, ctx_event)
        self.store.put_customer(state)
        return turn.effects

    def fire(self, timer: Timer, now: datetime) -> list[Effect]:
        """Fire a due timer; a stale one (its instance moved on, its plan changed) does nothing."""
        key = timer.key
        if key.startswith(ANON):
            key = self.store.alias(key[len(ANON):]) or key
        state = self.store.customer(key)
        if state is None:
            return []
        journey = self.by_id.get(timer.journey)
        if journey is None or not journey.enabled:
            return []
        turn = Turn(state, now, self.settings)
        kind = timer.kind
        match kind:
            case TimerKind.STEP:
                self.interpreter.resume(turn, journey, timer)
            case TimerKind.DATE:
                self.triggers.fire_date(turn, journey, timer)
            case TimerKind.INACTIVITY:
                self.triggers.fire_inactivity(turn, journey, timer)
            case TimerKind.BROADCAST:
                self.triggers.fire_broadcast(turn, journey)
            case TimerKind.WINNER:
                return []  # an experiment's check belongs to the runtime, which holds the tallies
            case _:
                assert_never(kind)
        self.store.put_customer(state)
        return turn.effects

    def import_profile(self, customer_id: str, traits: dict[str, Any], now: datetime) -> list[Effect]:
        """Seed a profile (simulate --profiles, bulk imports); plans its date triggers."""
        state = self.store.customer(customer_id) or CustomerState.for_key(customer_id)
        turn = Turn(state, now, self.settings)
        if merge_traits(state, traits):
            self.planner.dates(turn)
            self.interpreter.replan(turn)
        self.store.put_customer(state)
        return turn.effects

    def absorb(self, customer_key: str, anon: CustomerState, now: datetime) -> list[Effect]:
        """Fold an anonymous profile handed over from elsewhere (another partition) into a customer."""
        state = self.store.customer(customer_key) or CustomerState.for_key(customer_key)
        turn = Turn(state, now, self.settings)
        self.identity.merge(turn, anon)
        self.store.put_customer(state)
        return turn.effects

    def cancel(self, key: str, journey_id: str, now: datetime) -> list[Effect]:
        """A broadcast cancelled mid-way: the customer's instance of it ends (`cancelled`), nothing more is sent."""
        state = self.store.customer(key)
        inst = state.instances.get(journey_id) if state is not None else None
        if state is None or inst is None:
            return []
        turn = Turn(state, now, self.settings)
        turn.exit(journey_id, inst, ExitReason.CANCELLED)
        self.store.put_customer(state)
        return turn.effects

    def migrate(self, key: str, now: datetime, edit: Edit | None = None) -> list[Effect]:
        """After a live edit (by default from an unknown version to this one): move instances as the edit says."""
        state = self.store.customer(key)
        if state is None:
            return []
        turn = Turn(state, now, self.settings)
        (edit or Edit(None, self.workspace)).carry_out(turn)
        self.store.put_customer(state)
        return turn.effects
