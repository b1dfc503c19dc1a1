"""Double opt-in: an address gets one transactional message with a signed confirmation link.

Two ways in: a new address on a `double_opt_in` channel, and a customer asking for a channel
(`subscription_requested`, posted by the preference centre when texts are turned on).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr

from engine import policies
from engine.effects import Dispatch, Message, SendReason, SendStatus
from engine.events import Event
from engine.model import CONFIRM_TEMPLATE, DOUBLE_OPT_IN, Channel, Rendered, Workspace
from engine.ports import Links, Store
from engine.sending import locale
from engine.turn import Turn, iso, message_id

SUBSCRIPTION_REQUESTED = "subscription_requested"  # properties.channel: the customer asks to be confirmed
SUBSCRIBED = "subscribed"
RESEND_AFTER = timedelta(days=1)  # a customer who asks again gets a new message, at most once a day


class Confirmation:
    """The confirmation requests: per new address on a double opt-in channel, and on request."""

    def __init__(self, workspace: Workspace, store: Store, links: Links) -> None:
        self.workspace = workspace
        self.store = store
        self.links = links

    def request(self, turn: Turn) -> None:
        """After a trait change: ask each double opt-in channel's new, unconfirmed address once."""
        traits = turn.state.traits
        for channel in sorted(self.workspace.settings.double_opt_in):
            ch = Channel(channel)
            address = self._deliverable(turn, ch)
            if (address is None or traits.get(f"{channel}_subscribed") is not None
                    or traits.get(f"{channel}_confirmation_sent_to") == address):
                continue
            self._send(turn, ch, address, "confirm")

    def requested(self, turn: Turn, event: Event) -> None:
        """The customer asked for this channel: confirm its address, unless consent is already given
        (an explicit request overrides an earlier unsubscribe, which only the customer can do)."""
        channel = event.properties.get("channel")
        if channel not in ("email", "sms"):
            return
        ch, traits = Channel(channel), turn.state.traits
        address = self._deliverable(turn, ch)
        if address is None or traits.get(f"{channel}_subscribed") is True:
            return
        sent_at = traits.get(f"{channel}_confirmation_sent_at")
        if traits.get(f"{channel}_confirmation_sent_to") != address:
            self._send(turn, ch, address, "confirm")
        elif not isinstance(sent_at, str) or turn.now - datetime.fromisoformat(sent_at) >= RESEND_AFTER:
            self._send(turn, ch, address, f"confirm:{iso(turn.now)}")

    @staticmethod
    def consented(turn: Turn, event: Event) -> None:
        """Text reminders asked for without consent (the preference centre's `sms_reminders_requested`) start
        with the consent, however it comes: the confirmation link, a YES reply, the site."""
        traits = turn.state.traits
        if (event.properties.get("channel") == "sms" and not event.properties.get("topic")
                and traits.get("sms_subscribed") is True and traits.get("sms_reminders_requested") is True):
            traits["sms_reminders"] = True
            del traits["sms_reminders_requested"]

    def _deliverable(self, turn: Turn, ch: Channel) -> str | None:
        address = policies.address_of(turn.state.traits, ch)
        if (address is None or policies.address_problem(address, ch)
                or (ch is Channel.EMAIL and self.store.suppression(address))):
            return None
        return address

    def _send(self, turn: Turn, ch: Channel, address: str, step: str) -> None:
        state, settings, channel = turn.state, self.workspace.settings, ch.value
        state.traits[f"{channel}_confirmation_sent_to"] = address
        state.traits[f"{channel}_confirmation_sent_at"] = iso(turn.now)
        url = self.links.confirm_url(state.key, channel, address)
        context = {"profile": state.traits, "activity": state.activity, "now": turn.now,
                   "settings": settings.raw, "confirm_url": url}
        mid = message_id(f"{state.key}:{DOUBLE_OPT_IN}:{address}", step)
        fields = {"step": "confirm", "channel": channel, "template": CONFIRM_TEMPLATE, "to": address}
        try:
            if self.workspace.renderer.has(CONFIRM_TEMPLATE, channel):
                rendered = self.workspace.renderer.render(CONFIRM_TEMPLATE, channel, locale(state), context)
            else:  # a channel asked for from the preference centre, where the workspace wrote no template
                rendered = self._default(ch, url)
        except Exception as exc:  # the marketer's template: reported, never fatal
            error = f"{type(exc).__name__}: {exc}"
            turn.out(DOUBLE_OPT_IN, "send", **fields, status=SendStatus.FAILED, reason=SendReason.TEMPLATE_ERROR,
                     subject=None, text=None, variant=None, transactional=True, message_id=mid, error=error)
            return
        turn.out(DOUBLE_OPT_IN, "send", **fields, status=SendStatus.SENT, reason=None, subject=rendered.subject,
                 text=rendered.text, variant=None, transactional=True, message_id=mid)
        turn.effects.append(Dispatch(Message(
            id=mid, at=iso(turn.now), channel=channel, template=CONFIRM_TEMPLATE, to=address,
            customer_id=state.customer_id, journey=DOUBLE_OPT_IN, step="confirm", variant=None, transactional=True,
            subject=rendered.subject, text=rendered.text, html=rendered.html, preheader=rendered.preheader)))

    def _default(self, ch: Channel, url: str) -> Rendered:
        name, address = parseaddr(self.workspace.settings.sender.get("email", ""))
        brand = name or address or "We"
        if ch is Channel.SMS:
            return Rendered(None, f"{brand}: tap to confirm you want our texts: {url} Reply STOP to stop.")
        return Rendered("Please confirm your subscription", f"Please confirm that you want to hear from {brand}: {url}")
