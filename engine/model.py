"""The compiled workspace: immutable values the machine runs, built by `rules.compile`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum
from typing import Any, Callable, Mapping, Protocol, Union

from engine.content_model import (ContentVariant as ContentVariant, Metric as Metric, TextTemplate as TextTemplate,
                                  WinnerRule as WinnerRule)
from engine.declared import DeclaredData
from engine.schedules import BroadcastTrigger as BroadcastTrigger, WaitBest as WaitBest
from engine.trigger_kinds import (DateTrigger as DateTrigger, EventTrigger as EventTrigger,
                                  InactivityTrigger as InactivityTrigger, Trigger as Trigger)


class Expr(Protocol):
    """A checked, compiled expression; `evaluate` raises on a run-time failure."""

    source: str

    def evaluate(self, context: Mapping[str, Any]) -> Any: ...


class Renderer(Protocol):
    """Renders a named template for a channel; raises on a template error."""

    def render(self, name: str, channel: str, locale: str | None, context: Mapping[str, Any],
               track: Callable[[str], str] | None = None) -> "Rendered": ...

    def has(self, name: str, channel: str) -> bool: ...


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None = None
    preheader: str | None = None
    segments: int | None = None    # SMS only: parts billed (GSM-7 or UCS-2)
    encoding: str | None = None


DOUBLE_OPT_IN = "double_opt_in"            # the journey name of confirmation messages in records
CONFIRM_TEMPLATE = "confirm_subscription"  # the template they use, required when double opt-in is on


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class Consent(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


@dataclass(frozen=True)
class Cap:
    max: int
    per: timedelta


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def contains(self, t: time) -> bool:
        """SPEC §5 rule 6: overnight when start > end; empty when they are equal."""
        if self.start > self.end:
            return t >= self.start or t < self.end
        return self.start <= t < self.end


DEFAULT_FUTURE_SKEW = timedelta(minutes=5)  # how far ahead of its receipt an event may be dated (SPEC §8)


# ---- reports' attribution (SPEC §12) -----------------------------------------

@dataclass(frozen=True)
class Attribution:
    """How long after a click, or after a plain send, an order is credited to the message, per channel."""

    after_click: Mapping[str, timedelta] = field(
        default_factory=lambda: {"email": timedelta(days=5), "sms": timedelta(days=1)})
    after_send: Mapping[str, timedelta] = field(
        default_factory=lambda: {"email": timedelta(days=1), "sms": timedelta(days=1)})


DEFAULT_PURCHASE_EVENTS = ("purchase", "order_completed")


@dataclass(frozen=True)
class Settings:
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    frequency_caps: Mapping[str, Cap] = field(default_factory=dict)
    consent: Mapping[str, Consent] = field(
        default_factory=lambda: {"email": Consent.OPT_OUT, "sms": Consent.OPT_IN}
    )
    late_events: timedelta = timedelta(hours=72)
    future_skew: timedelta = DEFAULT_FUTURE_SKEW
    sender: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, Any] = field(default_factory=dict)  # connector choices, read by runtimes
    topics: tuple[str, ...] = ()
    track_links: bool = False
    utm: bool = True
    double_opt_in: frozenset[str] = frozenset()  # channels whose new subscribers confirm by a link
    purchase_events: tuple[str, ...] = DEFAULT_PURCHASE_EVENTS  # event types that are orders (reports)
    order_values: Mapping[str, Expr] = field(default_factory=dict)  # type -> its declared `revenue:` (SPEC §9)
    attribution: Attribution = field(default_factory=Attribution)
    event_names: Mapping[str, str] = field(default_factory=dict)  # Segment event name -> type (connectors/api/segment.py)
    raw: Mapping[str, Any] = field(default_factory=dict)  # as written, for templates


@dataclass(frozen=True)
class EventMatch:
    """`{event: T, where: E}` as used by exit_on, goal and wait_for."""

    event: str
    where: Expr | None = None


class ReentryKind(StrEnum):
    NEVER = "never"
    AFTER_EXIT = "after_exit"
    RESTART = "restart"
    COOLDOWN = "cooldown"


@dataclass(frozen=True)
class Reentry:
    kind: ReentryKind = ReentryKind.NEVER
    cooldown: timedelta = timedelta(0)


@dataclass(frozen=True)
class Goal:
    match: EventMatch
    within: timedelta
    value: Expr | None
    exit: bool = True


# ---- steps, compiled to a flat program --------------------------------------
# Nested step lists become instructions with jumps, so an instance's position is
# one index, and a step id maps to an index when a live edit reloads the journey.

@dataclass(frozen=True)
class Send:
    channel: Channel
    template: str | None
    when: Expr | None
    transactional: bool
    url: str | None = None
    method: str = "POST"
    body: Mapping[str, Any] | None = None  # values may be Expr
    topic: str | None = None               # subscription topic (the journey's unless the step names one)
    variants: tuple[ContentVariant, ...] = ()   # a content test (SPEC §11), empty when none
    winner: WinnerRule | None = None


@dataclass(frozen=True)
class Wait:
    duration: timedelta


@dataclass(frozen=True)
class WaitUntil:
    at: time                     # the time, or with `at_expr` its default
    days: frozenset[int] | None  # Monday is 0, as datetime.weekday(); with `days_expr` the default
    at_expr: Expr | None = None      # SPEC §15: the customer's chosen time, read when the step is reached
    days_expr: Expr | None = None    # SPEC §15: the customer's chosen weekdays

    @property
    def chosen(self) -> bool:
        """Read from the customer: re-planned when their profile changes while they wait."""
        return self.at_expr is not None or self.days_expr is not None


@dataclass(frozen=True)
class WaitFor:
    match: EventMatch
    timeout: timedelta
    then_pc: int
    else_pc: int


@dataclass(frozen=True)
class If:
    condition: Expr
    else_pc: int


@dataclass(frozen=True)
class Variant:
    name: str
    weight: int
    pc: int  # first instruction of the variant, or the split's end for a holdout
    holdout: bool = False  # no steps of its own: never a winner


@dataclass(frozen=True)
class Split:
    name: str
    variants: tuple[Variant, ...]
    winner: WinnerRule | None = None


@dataclass(frozen=True)
class Update:
    set: Mapping[str, Expr]
    increment: Mapping[str, Expr]
    unset: tuple[str, ...]


@dataclass(frozen=True)
class Repeat:
    """SPEC §15: the head of a loop; the body follows and ends in a Jump back here."""

    key: str               # the repeat's step id: its passes are counted under it in Instance.iterations
    times: int             # the number of passes, or with `until` the most
    until: Expr | None
    end_pc: int            # the instruction after the body


@dataclass(frozen=True)
class ExitStep:
    pass


@dataclass(frozen=True)
class Jump:
    target: int


Action = Union[Send, Wait, WaitUntil, WaitBest, WaitFor, If, Split, Update, Repeat, ExitStep, Jump]


@dataclass(frozen=True)
class Instruction:
    action: Action
    step_id: str          # stable name in reports ("" for internal jumps)
    variant: str | None   # the split variant whose steps hold this step
    line: int = 0


@dataclass(frozen=True)
class Journey:
    id: str
    name: str
    enabled: bool
    trigger: Trigger
    audience: Expr | None
    filter: Expr | None
    reentry: Reentry
    exit_on: tuple[EventMatch, ...]
    goal: Goal | None
    program: tuple[Instruction, ...]
    topic: str | None = None
    was: Mapping[str, str] = field(default_factory=dict)  # an edit's old step id -> the step that claims it (§10)

    def pc_of(self, step_id: str) -> int | None:
        for pc, ins in enumerate(self.program):
            if ins.step_id == step_id:
                return pc
        return None


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    segments: Mapping[str, Expr]
    journeys: tuple[Journey, ...]
    renderer: Renderer
    root: str = "."
    data: DeclaredData | None = None  # SPEC §9: None when journeys.yaml declares no `data:`

    @property
    def broadcasts(self) -> tuple[Journey, ...]:
        """The broadcasts (SPEC §13): journeys whose trigger is their schedule, after the others."""
        return tuple(j for j in self.journeys if isinstance(j.trigger, BroadcastTrigger))
