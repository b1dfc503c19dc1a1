"""Whether a send step's message goes out (SPEC §5): one pure function, the rules in their order.

The caller gives the facts (the `when` verdict, the profile, past marketing sends, the clock),
a suppression-list lookup and a thunk that renders the message, run only when rules 1-6 pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar, Union

from engine import policies
from engine.effects import SendReason, SendStatus
from engine.model import Channel, Send, Settings
from engine.scheduling import customer_zone, quiet_until

T = TypeVar("T")


@dataclass(frozen=True)
class Sent(Generic[T]):
    """Every rule passed: hand `content` to the channel's connector, to `address`."""

    address: str
    content: T
    status: ClassVar[SendStatus] = SendStatus.SENT


@dataclass(frozen=True)
class Skipped:
    """Rule 1: the step's `when` was false."""

    reason: ClassVar[SendReason] = SendReason.CONDITION
    status: ClassVar[SendStatus] = SendStatus.SKIPPED


@dataclass(frozen=True)
class Suppressed:
    """Rules 2-5: not sent, and the journey goes on."""

    reason: SendReason
    address: str | None
    status: ClassVar[SendStatus] = SendStatus.SUPPRESSED


@dataclass(frozen=True)
class Held:
    """Rule 6: quiet hours; the message and the rest of the journey wait `until`, then rules 2-5 again."""

    until: datetime


@dataclass(frozen=True)
class Failed:
    """Rule 7: the template (or webhook body) did not render; the journey goes on."""

    address: str
    error: str
    reason: ClassVar[SendReason] = SendReason.TEMPLATE_ERROR
    status: ClassVar[SendStatus] = SendStatus.FAILED


Decision = Union[Sent[T], Skipped, Suppressed, Held, Failed]


def decide(send: Send, *, condition: bool, traits: Mapping[str, Any], sent: Sequence[tuple[str, datetime]],
           now: datetime, settings: Settings, suppression: Callable[[str], str | None],
           render: Callable[[], T]) -> Decision[T]:
    """SPEC §5 in order; transactional skips 4-6 (never 3); a webhook goes to a system: rules 1 and 7 only.

    `condition` is rule 1's verdict (true without `when`, and after a quiet-hours hold, which
    judged it already); `suppression` looks an email address up in the bounce/complaint list.
    """
    if not condition:
        return Skipped()
    channel = send.channel
    if channel is Channel.WEBHOOK:
        assert send.url is not None  # the compiler requires it
        return _rendered(send.url, render)
    address = policies.address_of(traits, channel)
    reason = policies.address_problem(address, channel)
    if reason is None and channel is Channel.EMAIL and address is not None:
        listed = suppression(address)
        reason = SendReason(listed) if listed is not None else None
    marketing = not send.transactional
    if reason is None and marketing:
        reason = policies.consent_problem(traits, channel, settings, send.topic)
        if reason is None and policies.capped(sent, channel, now, settings):
            reason = SendReason.FREQUENCY_CAP
    if reason is not None:
        return Suppressed(reason, address)
    assert address is not None  # address_problem saw to it
    if marketing:
        until = quiet_until(now, settings.quiet_hours, customer_zone(traits.get("timezone"), settings.timezone))
        if until is not None:
            return Held(until)
    return _rendered(address, render)


def _rendered(address: str, render: Callable[[], T]) -> Sent[T] | Failed:
    try:
        return Sent(address, render())
    except Exception as exc:  # the marketer's template or body: reported, never fatal
        return Failed(address, f"{type(exc).__name__}: {exc}")
