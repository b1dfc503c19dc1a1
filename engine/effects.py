"""What the core asks the world to do, returned as data and carried out by a runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Union


class TimerKind(StrEnum):
    """What a timer wakes: a parked instance, a date trigger, an inactivity trigger, or a runtime's winner check."""

    STEP = "step"
    DATE = "date"
    INACTIVITY = "inactivity"
    BROADCAST = "broadcast"
    WINNER = "winner"  # SPEC §11: no customer's; the runtime decides (engine.experiments)


class ExitReason(StrEnum):
    """SPEC §7 `exited` reasons."""

    COMPLETED = "completed"
    EXIT_EVENT = "exit_event"
    GOAL = "goal"
    RESTARTED = "restarted"
    EXIT_STEP = "exit_step"
    FILTER = "filter"
    MERGED = "merged"
    STEP_REMOVED = "step_removed"
    CANCELLED = "cancelled"        # a broadcast cancelled while the customer was in it


class SendStatus(StrEnum):
    """SPEC §7 send `status`."""

    SENT = "sent"
    SKIPPED = "skipped"
    SUPPRESSED = "suppressed"
    FAILED = "failed"


class SendReason(StrEnum):
    """SPEC §5: why a send was not sent, in the order the rules are applied."""

    CONDITION = "condition"
    NO_ADDRESS = "no_address"
    INVALID_ADDRESS = "invalid_address"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    NO_CONSENT = "no_consent"
    FREQUENCY_CAP = "frequency_cap"
    TEMPLATE_ERROR = "template_error"


@dataclass(frozen=True, order=True)
class Timer:
    """Wake the machine at `due` for one customer: resume an instance or fire a trigger."""

    due: datetime
    key: str                     # the customer state's key when it was set
    kind: TimerKind
    journey: str
    token: str                   # instance id + generation, or the plan token: stale when it differs

    @property
    def id(self) -> str:
        return f"{self.key}|{self.kind}|{self.journey}|{self.token}"


@dataclass(frozen=True)
class Output:
    """One SPEC §7 outcome record (entered, send, converted, exited)."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """A message to hand to a channel connector exactly once; `id` is its idempotency key."""

    id: str
    at: str                      # when the engine decided it (SPEC §7 `at`)
    channel: str
    template: str | None
    to: str
    customer_id: str | None
    journey: str
    step: str
    variant: str | None
    transactional: bool
    subject: str | None
    text: str
    html: str | None = None
    preheader: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Dispatch:
    message: Message


@dataclass(frozen=True)
class Schedule:
    timer: Timer


@dataclass(frozen=True)
class Unschedule:
    """A timer set earlier is void (its wake-up was re-planned): a runtime drops it rather than fire it."""

    timer_id: str


@dataclass(frozen=True)
class Diagnostic:
    """A run-time expression or template failure: counted as false, reported, never fatal."""

    at: datetime
    customer_id: str | None
    journey: str
    step: str
    message: str


@dataclass(frozen=True)
class Exposure:
    """A customer met one arm of an undecided experiment (SPEC §11): a content test's message was sent
    (`message_id`), or they entered a tested split (no message): the experiment's tallies count it."""

    journey: str
    step: str                    # the send step's or the split's id
    arm: str                     # the variant's name
    customer: str                # the customer state's key
    message_id: str | None
    at: datetime


Effect = Union[Output, Dispatch, Schedule, Unschedule, Diagnostic, Exposure]
