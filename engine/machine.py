"""The journey state machine (SPEC §2-§5): pure, given time by its caller, effects as data.

`Engine.handle_event` and `Engine.fire` read and write customer state through a Store and
return the effects (outcome records, messages, timers) for a runtime to commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, assert_never

from engine.cohorts import assign
from engine.confirmation import Confirmation
from engine.conditions import attempt, holds, matches
from engine.effects import Effect, ExitReason, Timer, TimerKind
from engine.events import Event
from engine.identity import Identity
from engine.model import (
    DateTrigger, EventTrigger, ExitStep, If, InactivityTrigger, Journey,
    Jump, ReentryKind, Send, Split, Update, Wait, WaitFor, WaitUntil, Workspace,
)
from engine.migration import Fate, judge
from engine.planning import Planner, plan
from engine.ports import Links, Store
from engine.profiles import apply_builtin, count_activity, merge_traits
from engine.scheduling import customer_zone, next_local_time
from engine.sending import Sending
from engine.state import ANON, CustomerState, Instance, JourneyHistory, Waiting
from engine.turn import Flow, Turn, iso

__all__ = ["Engine", "iso"]


class Engine:
    def __init__(self, workspace: Workspace, store: Store, links: Links) -> None:
        self.workspace = workspace
        self.store = store
        self.links = links
        self.settings = workspace.settings
        self.sending = Sending(workspace, store, links)
        self.confirmation = Confirmation(workspace, store, links)
        self.journeys = workspace.journeys
        self.by_id = {j.id: j for j in workspace.journeys}
        self.planner = Planner(workspace)
        self.identity = Identity(workspace, store, self.planner)

    # -- entry points -----------------------------------------------------------

    def handle_event(self, event: Event, *, late: bool = False) -> list[Effect]:
        """Process one event at its journey time (SPEC §14); `late` events only update the profile."""
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
        self.planner.inactivity(turn, event.type)
        apply_builtin(state, event, self.store)
        if changed:
            self.planner.dates(turn)
            if self.settings.double_opt_in:
                self.confirmation.request(turn)
        if not late:
            ctx_event = event.context()
            self._advance_instances(turn, ctx_event)
            self._enter_on_event(turn, ctx_event)
        self.store.put_customer(state)
        return turn.effects

    def fire(self, timer: Timer, now: datetime) -> list[Effect]:
        """Fire a due timer; a stale one (its instance moved on) does nothing."""
        key = timer.key
        if key.startswith(ANON):
            key = self.store.alias(key[len(ANON):]) or key
        state = self.store.customer(key)
        if state is None:
            return []
        turn = Turn(state, now, self.settings)
        journey = self.by_id.get(timer.journey)
        if journey is None or not journey.enabled:
            return []
        kind = timer.kind
        match kind:
            case TimerKind.STEP:
                self._resume(turn, journey, timer)
            case TimerKind.DATE:
                self._fire_date(turn, journey, timer)
            case TimerKind.INACTIVITY:
                self._fire_inactivity(turn, journey, timer)
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
        self.store.put_customer(state)
        return turn.effects

    def absorb(self, customer_key: str, anon: CustomerState, now: datetime) -> list[Effect]:
        """Fold an anonymous profile handed over from elsewhere (another partition) into a customer."""
        state = self.store.customer(customer_key) or CustomerState.for_key(customer_key)
        turn = Turn(state, now, self.settings)
        self.identity.merge(turn, anon)
        self.store.put_customer(state)
        return turn.effects

    def migrate(self, key: str, now: datetime) -> list[Effect]:
        """After a live edit: move instances to their step's new place, or exit `step_removed`."""
        state = self.store.customer(key)
        if state is None:
            return []
        turn = Turn(state, now, self.settings)
        for journey_id, inst in list(state.instances.items()):
            journey = self.by_id.get(journey_id)
            verdict = judge(inst, journey)
            if verdict.fate is Fate.EXIT:
                turn.exit(journey_id, inst, ExitReason.STEP_REMOVED)
            elif verdict.pc is not None:
                inst.pc = verdict.pc
        self.store.put_customer(state)
        return turn.effects

    # -- steps 2 and 3 ----------------------------------------------------------

    def _advance_instances(self, turn: Turn, event: dict[str, Any]) -> None:
        state = turn.state
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
            elif inst.waiting == Waiting.EVENT:
                action = journey.program[inst.pc].action
                assert isinstance(action, WaitFor)
                if matches(turn, journey, inst, action.match, event, inst.step_id):
                    inst.event = event
                    self._continue(turn, journey, inst, action.then_pc)

    def _enter_on_event(self, turn: Turn, event: dict[str, Any]) -> None:
        for journey in self.journeys:
            trigger = journey.trigger
            if not journey.enabled or not isinstance(trigger, EventTrigger) or trigger.event != event["type"]:
                continue
            if trigger.where is None or holds(turn, journey, None, trigger.where, "trigger", event):
                self._enter(turn, journey, event)

    def _enter(self, turn: Turn, journey: Journey, event: dict[str, Any]) -> None:
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
        self._continue(turn, journey, inst, 0)

    # -- running steps ----------------------------------------------------------

    def _continue(self, turn: Turn, journey: Journey, inst: Instance, pc: int, *, deferred: bool = False) -> None:
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
                    due = next_local_time(turn.now, action.at, tz, action.days)
                    turn.park(journey.id, inst, Waiting.TIMER, due)
                    return
                case WaitFor():
                    turn.park(journey.id, inst, Waiting.EVENT, turn.now + action.timeout)
                    return
                case If():
                    pc = pc + 1 if holds(turn, journey, inst, action.condition, ins.step_id) else action.else_pc
                case Split():
                    variant = assign(turn.state.customer_id or turn.state.key, journey.id, action)
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

    def _resume(self, turn: Turn, journey: Journey, timer: Timer) -> None:
        inst = turn.state.instances.get(journey.id)
        if inst is None or f"{inst.id}#{inst.generation}" != timer.token:
            return
        waiting = inst.waiting
        match waiting:
            case Waiting.EVENT:
                action = journey.program[inst.pc].action
                assert isinstance(action, WaitFor)  # live edits exit instances whose step changed kind
                self._continue(turn, journey, inst, action.else_pc)
            case Waiting.QUIET:
                self._continue(turn, journey, inst, inst.pc, deferred=True)
            case Waiting.TIMER | None:
                self._continue(turn, journey, inst, inst.pc + 1)
            case _:
                assert_never(waiting)

    # -- update, triggers planned in time ----------------------------------------

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

    def _fire_date(self, turn: Turn, journey: Journey, timer: Timer) -> None:
        state = turn.state
        if state.plans.get(journey.id) != timer.token:
            return
        trigger = journey.trigger
        assert isinstance(trigger, DateTrigger)
        event = self._synthetic(turn, TimerKind.DATE, {"trait": trigger.trait, "date": timer.token.split("@")[0]})
        state.plans.pop(journey.id, None)  # before entering: the journey may move the date itself
        self._enter(turn, journey, event)
        if trigger.yearly:
            self.planner.dates(turn, after=turn.now + timedelta(seconds=1))

    def _fire_inactivity(self, turn: Turn, journey: Journey, timer: Timer) -> None:
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
        event = self._synthetic(turn, TimerKind.INACTIVITY, {"event_type": trigger.event, "last_at": iso(last)})
        self._enter(turn, journey, event)

    def _synthetic(self, turn: Turn, kind: TimerKind, properties: dict[str, Any]) -> dict[str, Any]:
        """The trigger event of a journey started by time, not by an event."""
        state = turn.state
        return {"id": None, "type": kind.value, "customer_id": state.customer_id, "anonymous_id": state.anonymous_id,
                "timestamp": turn.now, "properties": properties, "traits": {}}


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
