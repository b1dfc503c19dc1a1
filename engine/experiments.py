"""Content tests and tested splits (SPEC §11): tallies per arm, the winner verdict and when it is taken.

Everything here is pure: runtimes feed a `Ledger` with what happened (exposures, send records,
provider events, conversions) and ask for a verdict at the experiment's decision times.
The unit is the exposure: one message of a content test, or one entry into a tested split.
A click counts as an open too (opens are under-reported where images are blocked). `converted`
and `revenue` read the journey's goal: a conversion of the customer's instance after the exposure,
and its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from engine.model import Metric, Send, Split, WinnerRule, Workspace
from engine.significance import two_proportions, welch

DAILY = timedelta(days=1)
LAST_CHANCE = timedelta(days=30)   # no winner by then: the default content wins
OPENED_EVENTS = frozenset({"email_opened"})
CLICKED_EVENTS = frozenset({"email_clicked", "sms_clicked"})

ExperimentKey = tuple[str, str]    # (journey id, step id of the send step or the split)


@dataclass(frozen=True)
class Experiment:
    """A tested step: its rule, its arms in the order written, those that may win, and the default."""

    journey: str
    step: str
    rule: WinnerRule | None         # None: a content test without `winner:` (reports still show it)
    arms: tuple[str, ...]
    candidates: tuple[str, ...]     # a holdout never wins
    default: str                    # the step's own content (or the split's first variant with steps)
    split: bool = False


def experiments_of(workspace: Workspace, judged_only: bool = True) -> dict[ExperimentKey, Experiment]:
    """Every step with a `winner:` rule (with `judged_only=False`, every content test too), by (journey, step)."""
    found: dict[ExperimentKey, Experiment] = {}
    for journey in workspace.journeys:
        for ins in journey.program:
            action = ins.action
            if isinstance(action, Send) and action.variants and (action.winner is not None or not judged_only):
                names = tuple(v.name for v in action.variants)
                found[(journey.id, ins.step_id)] = Experiment(journey.id, ins.step_id, action.winner, names, names,
                                                              default_variant(action))
            elif isinstance(action, Split) and action.winner is not None:
                able = tuple(v.name for v in action.variants if not v.holdout)
                if able:
                    found[(journey.id, ins.step_id)] = Experiment(
                        journey.id, ins.step_id, action.winner, tuple(v.name for v in action.variants), able,
                        able[0], split=True)
    return found


def default_variant(send: Send) -> str:
    """The default content: the first variant with neither template nor subject of its own, else the first."""
    return next((v.name for v in send.variants if v.is_default), send.variants[0].name)


@dataclass
class Arm:
    """One arm's tally: recipients, and for each metric its successes (revenue: sum and sum of squares)."""

    recipients: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    revenue: float = 0.0
    squares: float = 0.0

    def successes(self, metric: Metric) -> int:
        return {Metric.OPENED: self.opened, Metric.CLICKED: self.clicked, Metric.CONVERTED: self.converted}[metric]

    def rate(self, metric: Metric) -> float:
        """Share of recipients (revenue: value per recipient); 0 without recipients."""
        if not self.recipients:
            return 0.0
        return (self.revenue if metric is Metric.REVENUE else self.successes(metric)) / self.recipients

    def variance(self) -> float:
        """Sample variance of revenue per recipient (a recipient without a conversion counts 0)."""
        n = self.recipients
        return max(0.0, (self.squares - self.revenue * self.revenue / n) / (n - 1)) if n > 1 else 0.0


def p_value(metric: Metric, a: Arm, b: Arm) -> float:
    """Two-sided p of a against b: z test of proportions, Welch's t for revenue per recipient."""
    if metric is Metric.REVENUE:
        return welch(a.rate(metric), a.variance(), a.recipients, b.rate(metric), b.variance(), b.recipients)[2]
    return two_proportions(a.successes(metric), a.recipients, b.successes(metric), b.recipients)[1]


def verdict(rule: WinnerRule, arms: Mapping[str, Arm], candidates: Iterable[str]) -> str | None:
    """The candidate whose rate beats every other arm at `rule.confidence`, once every arm has
    `min_per_variant` recipients; None when there is none (yet)."""
    if not arms or any(arm.recipients < rule.min_per_variant for arm in arms.values()):
        return None
    alpha = 1 - rule.confidence
    metric = rule.metric
    for name in candidates:
        best = arms[name]
        if all(best.rate(metric) > other.rate(metric) and p_value(metric, best, other) < alpha
               for other_name, other in arms.items() if other_name != name):
            return name
    return None


def first_check(rule: WinnerRule, started: datetime) -> datetime:
    return started + rule.after


def next_check(rule: WinnerRule, started: datetime, checked: datetime) -> datetime | None:
    """After an undecided check: a day later, the last at 30 days (or `after`, if longer) past the start;
    None when `checked` was the last."""
    last = started + max(rule.after, LAST_CHANCE)
    return None if checked >= last else min(checked + DAILY, last)


@dataclass
class _Exposure:
    experiment: ExperimentKey
    arm: str
    opened: bool = False
    clicked: bool = False
    converted: bool = False
    value: float = 0.0


@dataclass
class Ledger:
    """Tallies of every experiment, fed in journey-time order; with `discover`, also of content tests known only
    from their exposures (a report over a log without its workspace)."""

    experiments: dict[ExperimentKey, Experiment]
    discover: bool = False
    exposures: list[_Exposure] = field(default_factory=list)
    started: dict[ExperimentKey, datetime] = field(default_factory=dict)
    winners: dict[ExperimentKey, str] = field(default_factory=dict)
    _by_message: dict[str, list[int]] = field(default_factory=dict)
    _pending: dict[tuple[str, str], list[int]] = field(default_factory=dict)     # (customer, journey): unconverted
    _in_split: dict[tuple[str, str], list[int]] = field(default_factory=dict)    # (customer, journey): split entries

    def expose(self, journey: str, step: str, arm: str, customer: str, message_id: str | None, at: datetime) -> bool:
        """A customer met an arm; True when it is the experiment's first exposure (its decisions start now)."""
        key = (journey, step)
        if key not in self.experiments and self.discover:
            self.experiments[key] = Experiment(journey, step, None, (), (), arm)
        if key not in self.experiments or key in self.winners:
            return False
        index = len(self.exposures)
        self.exposures.append(_Exposure(key, arm))
        self._pending.setdefault((customer, journey), []).append(index)
        if message_id is not None:
            self._by_message.setdefault(message_id, []).append(index)
        else:
            self._in_split.setdefault((customer, journey), []).append(index)
        first = key not in self.started
        self.started.setdefault(key, at)
        return first

    def record(self, record: Mapping[str, Any]) -> None:
        """An outcome record: an entry starts a new instance, a sent message inside a tested split is
        that split's, a conversion credits the instance's exposures."""
        kind, journey = record.get("type"), record.get("journey")
        customer = record.get("customer_id") or f"anon:{record.get('anonymous_id')}"
        key = (customer, str(journey))
        if kind == "entered":
            self._pending.pop(key, None)
            self._in_split.pop(key, None)
        elif kind == "send" and record.get("status") == "sent" and key in self._in_split:
            self._by_message.setdefault(str(record.get("message_id")), []).extend(self._in_split[key])
        elif kind == "converted":
            value = float(record.get("value") or 0.0)
            for index in self._pending.pop(key, ()):
                exposure = self.exposures[index]
                exposure.converted, exposure.value = True, value

    def event(self, kind: str, properties: Mapping[str, Any]) -> None:
        """A provider event about a message: its exposures are opened (or clicked, which is also an open)."""
        clicked = kind in CLICKED_EVENTS
        if not clicked and kind not in OPENED_EVENTS:
            return
        for index in self._by_message.get(str(properties.get("message_id")), ()):
            exposure = self.exposures[index]
            exposure.opened = True
            exposure.clicked = exposure.clicked or clicked

    def dump(self) -> dict[str, Any]:
        """The exposures and their links, as JSON (one customer's, kept in its record by the Kafka runtime)."""
        return {"exposures": [[*e.experiment, e.arm, e.opened, e.clicked, e.converted, e.value] for e in self.exposures],
                "messages": self._by_message, "pending": {"\x1f".join(k): v for k, v in self._pending.items()},
                "in_split": {"\x1f".join(k): v for k, v in self._in_split.items()},
                "started": {"\x1f".join(k): at.isoformat() for k, at in self.started.items()}}

    @classmethod
    def load(cls, experiments: dict[ExperimentKey, Experiment], data: Mapping[str, Any] | None) -> Ledger:
        ledger = cls(experiments)
        if not data:
            return ledger
        ledger.exposures = [_Exposure((j, s), arm, opened, clicked, converted, value)
                            for j, s, arm, opened, clicked, converted, value in data["exposures"]]
        ledger._by_message = {k: list(v) for k, v in data["messages"].items()}
        ledger._pending = {_pair(k): list(v) for k, v in data["pending"].items()}
        ledger._in_split = {_pair(k): list(v) for k, v in data["in_split"].items()}
        ledger.started = {_pair(k): datetime.fromisoformat(v) for k, v in data["started"].items()}
        return ledger

    def arms(self, key: ExperimentKey) -> dict[str, Arm]:
        """The experiment's tally per arm, every arm written listed first (an arm nobody met has 0 recipients)."""
        arms = {name: Arm() for name in self.experiments[key].arms}
        for exposure in self.exposures:
            if exposure.experiment != key:
                continue
            arm = arms.setdefault(exposure.arm, Arm())
            arm.recipients += 1
            arm.opened += exposure.opened
            arm.clicked += exposure.clicked
            if exposure.converted:
                arm.converted += 1
                arm.revenue += exposure.value
                arm.squares += exposure.value * exposure.value
        return arms

    def decide(self, key: ExperimentKey, now: datetime) -> Decision:
        """The check due at `now`: a winner by the test, the default at the last check, or the next check's time."""
        return decide(self.experiments[key], self.arms(key), self.started[key], now)


def decide(experiment: Experiment, arms: Mapping[str, Arm], started: datetime, now: datetime) -> Decision:
    """The check due at `now` of an experiment started at `started`, on these tallies."""
    rule = experiment.rule
    assert rule is not None   # only judged experiments get checks
    winner = verdict(rule, arms, experiment.candidates)
    if winner is not None:
        return Decision(experiment, winner, "significant", None)
    later = next_check(rule, started, now)
    if later is None:
        return Decision(experiment, experiment.default, "no_winner_in_time", None)
    return Decision(experiment, None, None, later)


def _pair(joined: str) -> tuple[str, str]:
    first, _, second = joined.partition("\x1f")
    return first, second


@dataclass(frozen=True)
class Decision:
    """A check's outcome: `winner` (and why), or `next_at`, when to look again."""

    experiment: Experiment
    winner: str | None
    reason: str | None
    next_at: datetime | None

    def record(self, at: str) -> dict[str, Any]:
        """The SPEC §11 `winner` record (with the metric and why it was chosen)."""
        e = self.experiment
        assert e.rule is not None
        return {"at": at, "journey": e.journey, "type": "winner", "step": e.step, "variant": self.winner,
                "metric": e.rule.metric.value, "reason": self.reason}
