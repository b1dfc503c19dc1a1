"""Broadcasts planned (SPEC §13): who is in the audience, each one's moment, paced by the throttle.

Pure: a runtime hands in the customers it holds and the time; it gets back one entry timer per
customer (kind `broadcast`, token: the customer's time zone), which fires the entry at that moment.
A broadcast starts at its first wave (send_at in the earliest zone, UTC+14); the audience is chosen
then and judged again at each customer's own moment, so one who left it in between gets nothing;
a customer first known later joins when their own moment is still to come (`newcomer`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any, TypeVar

from engine.best_time import best_of, candidates, engaged
from engine.cohorts import assign, holdout_variants
from engine.conditions import holds
from engine.effects import Diagnostic, Effect, Schedule, Timer, TimerKind
from engine.model import BroadcastTrigger, Journey, Send, Settings, Split
from engine.scheduling import at_local, customer_zone
from engine.send_decision import Failed, Held, Sent, Skipped, Suppressed, decide
from engine.state import CustomerState
from engine.turn import Turn

UTC = timezone.utc
EARLIEST_OFFSET = timedelta(hours=14)  # Kiribati, UTC+14: the first place a local time comes
LATEST_OFFSET = timedelta(hours=12)    # Baker Island, UTC-12: the last


def schedule_of(journey: Journey) -> BroadcastTrigger:
    trigger = journey.trigger
    assert isinstance(trigger, BroadcastTrigger), f"{journey.id} is not a broadcast"
    return trigger


def first_wave(trigger: BroadcastTrigger) -> datetime:
    """The earliest moment any customer's send_at can come: when the broadcast starts."""
    if trigger.utc is not None:
        return trigger.utc.astimezone(UTC)
    assert trigger.local is not None
    return trigger.local.replace(tzinfo=UTC) - EARLIEST_OFFSET


def last_wave(trigger: BroadcastTrigger) -> datetime:
    """The latest moment any customer's send_at can come (best time included): after it, nobody new joins."""
    base = trigger.utc.astimezone(UTC) if trigger.utc is not None else (
        trigger.local.replace(tzinfo=UTC) + LATEST_OFFSET if trigger.local is not None else _never())
    return base + (trigger.best_time or timedelta(0))


def starting_now(journey: Journey, at: datetime) -> Journey:
    """`send --now`: everyone from `at` (best time and throttle still apply), whatever send_at says."""
    trigger = schedule_of(journey)
    return replace(journey, trigger=BroadcastTrigger(at, None, trigger.best_time, trigger.per_hour))


def sharing_the_throttle(journey: Journey, parts: int) -> Journey:
    """The broadcast as one of `parts` planners sees it (a Kafka partition): its share of the throttle."""
    trigger = schedule_of(journey)
    if trigger.per_hour is None:
        return journey
    return replace(journey, trigger=replace(trigger, per_hour=trigger.per_hour / parts))


class Moments:
    """Each customer's moment in one broadcast: send_at (their wall clock for `local`, DST gaps as in
    wait_until), moved to their most engaged hour inside the best-time window; unless the broadcast opens
    with a split and the customer is in its holdout (a variant without steps): the control group, sent at
    send_at. Send_at and the best-time candidates are worked out once per time zone."""

    def __init__(self, journey: Journey, settings: Settings) -> None:
        self.journey = journey
        self.trigger = schedule_of(journey)
        self.default_zone = settings.timezone
        self._zones: dict[str | None, _Zone] = {}  # by the profile's `timezone` (None: not text)
        first = journey.program[0].action if journey.program else None
        self._split = first if isinstance(first, Split) else None
        self._holdouts = holdout_variants(journey, first) if isinstance(first, Split) else frozenset()
        if self._split is not None and len(self._holdouts) == len(self._split.variants):
            self._split = None  # nobody is treated: no comparison to make

    def __call__(self, state: CustomerState) -> tuple[datetime, str]:
        """The moment, and the customer's time zone."""
        named = state.traits.get("timezone")
        zone = self._zones.get(named if isinstance(named, str) else None) or self._zone(named)
        if zone.candidates is None or self._control(state):
            return zone.start, zone.key
        hours = engaged(state.activity)
        if hours is None:  # no history: send_at itself
            return zone.start, zone.key
        return best_of(zone.candidates, hours), zone.key

    def _zone(self, named: object) -> _Zone:
        tz = customer_zone(named, self.default_zone)
        trigger = self.trigger
        start = (at_local(trigger.local.date(), trigger.local.time(), tz) if trigger.local is not None
                 else trigger.utc.astimezone(UTC) if trigger.utc is not None else _never())
        window = trigger.best_time
        zone = _Zone(tz.key, start, None if window is None else candidates(start, window, tz))
        self._zones[named if isinstance(named, str) else None] = zone
        return zone

    def _control(self, state: CustomerState) -> bool:
        split = self._split
        if split is None or state.customer_id is None:
            return False
        return assign(state.customer_id, self.journey.id, split).name in self._holdouts


@dataclass(frozen=True)
class _Zone:
    """A time zone's send_at, and the moments best time chooses from there (None: no best time)."""

    key: str
    start: datetime
    candidates: list[tuple[datetime, int]] | None


def _never() -> datetime:
    raise AssertionError("send_at is utc or local (the schema requires one)")


Kept = TypeVar("Kept")
_MOMENT_AND_KEY = itemgetter(0, 1)


def _selected(journey: Journey, states: Iterable[CustomerState], settings: Settings, now: datetime,
              effects: list[Effect], keep: Callable[[CustomerState], Kept],
              pacer: Pacer | None = None) -> list[tuple[datetime, str, str, Kept]]:
    """Known customers in the audience now who have not had the broadcast, each at their moment (never before now):
    (moment, key, time zone, what `keep` keeps of their state), by moment then key. Plain tuples holding no more of
    a state than asked: a plan makes a million of them."""
    trigger = schedule_of(journey)
    moment = Moments(journey, settings)
    audience = journey.audience
    chosen: list[tuple[datetime, str, str, Kept]] = []
    event = {"id": None, "type": TimerKind.BROADCAST.value, "timestamp": now, "properties": {"broadcast": journey.id},
             "traits": {}}
    turn = Turn(CustomerState.for_key(""), now, settings)  # one for all: its state set to each customer's in turn
    for state in states:
        if state.customer_id is None or journey.id in state.history:
            continue
        if audience is not None:
            turn.state = state
            event["customer_id"] = state.customer_id
            if not holds(turn, journey, None, audience, "audience", event):
                continue
        due, zone = moment(state)
        chosen.append((due if due > now else now, state.key, zone, keep(state)))
    effects.extend(e for e in turn.effects if isinstance(e, Diagnostic))
    chosen.sort(key=_MOMENT_AND_KEY)
    if trigger.per_hour:
        pacer = pacer or Pacer(now, trigger.per_hour)
        place = pacer.place
        chosen = [(place(due), key, zone, kept) for due, key, zone, kept in chosen]
    return chosen


class Pacer:
    """A throttle's slots, one every 3600/per_hour seconds from the start: an entry takes the first free slot
    at or after its moment. Which slots end up taken does not depend on the order entries come in (as cars
    parking along a street), so a broadcast planned in chunks is paced as if planned whole. `taken` is the
    runs of taken slots, [first, end) pairs: what a runtime keeps between chunks."""

    def __init__(self, start: datetime, per_hour: float, taken: Iterable[tuple[int, int]] = ()) -> None:
        self.start = start
        self.gap = max(1, round(3_600_000_000 / per_hour))  # microseconds
        runs = list(taken)
        self._firsts = [first for first, _ in runs]  # the runs, as two lists: bisect needs no key function
        self._ends = [end for _, end in runs]

    def place(self, due: datetime) -> datetime:
        """The moment of the first free slot at or after `due` (never before the start), now taken."""
        wanted = max(0, -(-((due - self.start) // _MICROSECOND) // self.gap))  # ceiling
        firsts, ends = self._firsts, self._ends
        i = bisect_right(firsts, wanted) - 1
        if i >= 0 and ends[i] >= wanted:  # inside run i, or just after it: extend it
            slot = ends[i] if ends[i] > wanted else wanted
            ends[i] = slot + 1
        else:
            slot = wanted
            i += 1
            firsts.insert(i, slot)
            ends.insert(i, slot + 1)
        if i + 1 < len(firsts) and firsts[i + 1] == ends[i]:  # it now touches the next run: one run
            del firsts[i + 1]
            ends[i] = ends.pop(i + 1)
        return self.start + timedelta(microseconds=slot * self.gap)

    def runs(self) -> list[tuple[int, int]]:
        return list(zip(self._firsts, self._ends))


_MICROSECOND = timedelta(microseconds=1)


def plan(journey: Journey, states: Iterable[CustomerState], settings: Settings, now: datetime,
         pacer: Pacer | None = None) -> list[Effect]:
    """Entry timers, due order (ties by key), and the diagnostics of an audience that failed to evaluate.
    A throttled broadcast planned in parts hands the same `pacer` to each."""
    effects: list[Effect] = []
    kind, journey_id = TimerKind.BROADCAST, journey.id
    effects += [Schedule(Timer(due, key, kind, journey_id, zone))
                for due, key, zone, _ in _selected(journey, states, settings, now, effects, _nothing, pacer)]
    return effects


def newcomer(journey: Journey, state: CustomerState, settings: Settings, now: datetime) -> list[Effect]:
    """A customer first known after the broadcast started: in it when their own moment is still to come (and
    they are in the audience now; judged again then, as everyone). Not paced: newcomers are few."""
    if state.customer_id is None or Moments(journey, settings)(state)[0] < now:
        return []
    return plan(journey, [state], settings, now)


@dataclass
class Forecast:
    """`nudge broadcast plan`: what the broadcast would do, before anything is sent."""

    audience: int = 0
    sends_by_hour: Counter[int] = field(default_factory=Counter)    # UTC hour (epoch hours) of the first message
    suppressed: Counter[str] = field(default_factory=Counter)       # by SPEC §5 reason
    by_zone: Counter[str] = field(default_factory=Counter)          # entries per customer time zone
    first: datetime | None = None
    last: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"audience": self.audience, "will_send": sum(self.sends_by_hour.values()),
                "suppressed": dict(sorted(self.suppressed.items())),
                "sends_by_hour": {_hour(h): n for h, n in sorted(self.sends_by_hour.items())},
                "entries_by_zone": dict(sorted(self.by_zone.items())),
                "first_entry": _iso(self.first), "last_entry": _iso(self.last)}


def forecast(journey: Journey, states: Iterable[CustomerState], settings: Settings, now: datetime,
             suppression: Callable[[str], str | None]) -> Forecast:
    """The audience, and its first message judged by SPEC §5 at each customer's moment (quiet hours move the hour)."""
    first_send = next((ins.action for ins in journey.program if isinstance(ins.action, Send)), None)
    result = Forecast()
    chosen = _selected(journey, states, settings, now, [], _for_caps)
    result.audience = len(chosen)
    result.by_zone.update(zone for _, _, zone, _ in chosen)
    if chosen:
        result.first = min(due for due, _, _, _ in chosen)
        result.last = max(due for due, _, _, _ in chosen)
    if first_send is None:
        return result
    hours, suppressed = result.sends_by_hour, result.suppressed
    for due, _, _, (traits, sent) in chosen:
        decision = decide(first_send, condition=True, traits=traits, sent=sent, now=due,
                          settings=settings, suppression=suppression, render=_nothing)
        match decision:
            case Held(until=until):
                hours[int(until.timestamp()) // 3600] += 1
            case Sent() | Failed():
                hours[int(due.timestamp()) // 3600] += 1
            case Suppressed(reason=reason):
                suppressed[reason.value] += 1
            case Skipped():
                suppressed["condition"] += 1
    return result


def _nothing(*_: object) -> None:
    """Nothing kept of a state (a plan's entries), nothing rendered (a forecast's)."""


def _for_caps(state: CustomerState) -> tuple[dict[str, Any], list[tuple[str, datetime]]]:
    """What the sending rules read of a state: consent and address in its traits, caps in its past sends."""
    return state.traits, state.sent


def _hour(epoch_hour: int) -> str:
    return datetime.fromtimestamp(epoch_hour * 3600, UTC).strftime("%Y-%m-%dT%H:00Z")


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None
