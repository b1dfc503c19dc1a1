"""Who an event belongs to (SPEC §2, §4 step 1): anonymous ids, their link to a customer, the merge."""

from __future__ import annotations

from engine.effects import ExitReason
from engine.events import Event
from engine.model import Workspace
from engine.planning import Planner
from engine.ports import Store
from engine.state import CustomerState, anon_key
from engine.turn import Turn


class Identity:
    """Aliases live in the store; a merge folds state and re-plans dates."""

    def __init__(self, workspace: Workspace, store: Store, planner: Planner) -> None:
        self.journeys = workspace.journeys
        self.store = store
        self.planner = planner

    def resolve(self, event: Event) -> CustomerState:
        """The customer's state, or a linked anonymous id's customer, or the anonymous profile; new if none."""
        if event.customer_id is not None:
            key = event.customer_id
        else:
            assert event.anonymous_id is not None  # parse_event guarantees one of the two
            key = self.store.alias(event.anonymous_id) or anon_key(event.anonymous_id)
        return self.store.customer(key) or CustomerState.for_key(key)

    def link(self, turn: Turn, anonymous_id: str) -> None:
        """First sight of an anonymous id with a customer id: alias it, fold its profile in."""
        if self.store.alias(anonymous_id) is not None:
            return  # already linked (to this customer or, first come first served, another)
        assert turn.state.customer_id is not None
        self.store.set_alias(anonymous_id, turn.state.customer_id)
        anon = self.store.customer(anon_key(anonymous_id))
        if anon is not None:
            self.merge(turn, anon)
            self.store.drop_customer(anon.key)

    def merge(self, turn: Turn, anon: CustomerState) -> None:
        """The anonymous profile folds into the customer; the customer's own traits win."""
        into = turn.state
        into.traits = {**anon.traits, **into.traits}
        for etype, a in anon.activity.items():
            mine = into.activity.get(etype)
            if mine is None:
                into.activity[etype] = dict(a)
            else:
                mine["count"] += a["count"]
                mine["first_at"] = min(mine["first_at"], a["first_at"])
                mine["last_at"] = max(mine["last_at"], a["last_at"])
        for journey in self.journeys:
            inst = anon.instances.get(journey.id)
            if inst is None:
                continue
            if journey.id in into.instances:
                turn.exit(journey.id, inst, ExitReason.MERGED, remove=False)
            else:
                into.instances[journey.id] = inst
        for jid, h in anon.history.items():
            mine_h = into.history.get(jid)
            if mine_h is None:
                into.history[jid] = h
                continue
            moved = into.instances.get(jid) is anon.instances.get(jid) is not None
            mine_h.entries += h.entries
            if moved:  # the moved instance is the latest entry: its goal window and entry time rule
                mine_h.goal_from, mine_h.converted = h.goal_from, h.converted
                mine_h.last_entered_at = h.last_entered_at
        into.sent = sorted(into.sent + anon.sent, key=lambda s: s[1])
        for jid, token in anon.plans.items():
            into.plans.setdefault(jid, token)
        self.planner.dates(turn)
