"""The customer-side tests of the sending rules (SPEC §5): address, consent, frequency caps."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from engine.effects import SendReason
from engine.model import Channel, Consent, Settings
from engine.state import CustomerState

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def address_of(traits: Mapping[str, Any], channel: Channel) -> str | None:
    value = traits.get("email" if channel is Channel.EMAIL else "phone")
    return value.strip() if isinstance(value, str) and value.strip() else None


def address_problem(address: str | None, channel: Channel) -> SendReason | None:
    """Rule 2: no address; a phone that is not E.164 cannot be texted either."""
    if address is None:
        return SendReason.NO_ADDRESS
    if channel is Channel.SMS and not E164.match(address):
        return SendReason.INVALID_ADDRESS
    return None


def consent_problem(traits: Mapping[str, Any], channel: Channel, settings: Settings,
                    topic: str | None = None) -> SendReason | None:
    """Rule 4: an explicit `false` always wins; silence counts only on opt-out channels.

    Per topic as well: a customer who left `promotions` still gets the `newsletter`.
    """
    subscribed = traits.get(f"{channel.value}_subscribed")
    if subscribed is False:
        return SendReason.UNSUBSCRIBED
    left = traits.get("unsubscribed_topics")
    if topic is not None and isinstance(left, list) and topic in left:
        return SendReason.UNSUBSCRIBED
    if subscribed is None and (settings.consent.get(channel.value) is Consent.OPT_IN
                               or channel.value in settings.double_opt_in):
        return SendReason.NO_CONSENT  # with double opt-in, silence is not consent until the link is followed
    return None


def capped(sent: Sequence[tuple[str, datetime]], channel: Channel, now: datetime, settings: Settings) -> bool:
    """Rule 5: `max` marketing sends of the channel in the trailing window (now - per, now]."""
    cap = settings.frequency_caps.get(channel.value)
    if cap is None:
        return False
    since = now - cap.per
    return sum(1 for ch, at in sent if ch == channel.value and at > since) >= cap.max


def prune_sent(state: CustomerState, now: datetime, settings: Settings) -> None:
    """Forget sends older than the longest cap window: they can never count again."""
    if not settings.frequency_caps:
        state.sent.clear()
        return
    since = now - max(c.per for c in settings.frequency_caps.values())
    if state.sent and state.sent[0][1] <= since:
        state.sent[:] = [s for s in state.sent if s[1] > since]
