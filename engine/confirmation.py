"""Double opt-in: a new address gets one transactional message with a signed confirmation link."""

from __future__ import annotations

from engine import policies
from engine.effects import Dispatch, Message, SendReason, SendStatus
from engine.model import CONFIRM_TEMPLATE, DOUBLE_OPT_IN, Channel, Workspace
from engine.ports import Links, Store
from engine.sending import locale
from engine.turn import Turn, iso, message_id


class Confirmation:
    """The double opt-in channels' confirmation requests."""

    def __init__(self, workspace: Workspace, store: Store, links: Links) -> None:
        self.workspace = workspace
        self.store = store
        self.links = links

    def request(self, turn: Turn) -> None:
        """After a trait change: ask each double opt-in channel's new, unconfirmed address once."""
        state, settings = turn.state, self.workspace.settings
        for channel in sorted(settings.double_opt_in):
            ch = Channel(channel)
            address = policies.address_of(state.traits, ch)
            if (address is None or state.traits.get(f"{channel}_subscribed") is not None
                    or state.traits.get(f"{channel}_confirmation_sent_to") == address
                    or policies.address_problem(address, ch)
                    or (ch is Channel.EMAIL and self.store.suppression(address))):
                continue
            state.traits[f"{channel}_confirmation_sent_to"] = address
            context = {"profile": state.traits, "activity": state.activity, "now": turn.now,
                       "settings": settings.raw, "confirm_url": self.links.confirm_url(state.key, channel)}
            mid = message_id(f"{state.key}:{DOUBLE_OPT_IN}:{address}", "confirm")
            fields = {"step": "confirm", "channel": channel, "template": CONFIRM_TEMPLATE, "to": address}
            try:
                rendered = self.workspace.renderer.render(CONFIRM_TEMPLATE, channel, locale(state), context)
            except Exception as exc:  # the marketer's template: reported, never fatal
                error = f"{type(exc).__name__}: {exc}"
                turn.out(DOUBLE_OPT_IN, "send", **fields, status=SendStatus.FAILED, reason=SendReason.TEMPLATE_ERROR,
                         subject=None, text=None, variant=None, transactional=True, message_id=mid, error=error)
                continue
            turn.out(DOUBLE_OPT_IN, "send", **fields, status=SendStatus.SENT, reason=None, subject=rendered.subject,
                     text=rendered.text, variant=None, transactional=True, message_id=mid)
            turn.effects.append(Dispatch(Message(
                id=mid, at=iso(turn.now), channel=channel, template=CONFIRM_TEMPLATE, to=address,
                customer_id=state.customer_id, journey=DOUBLE_OPT_IN, step="confirm", variant=None, transactional=True,
                subject=rendered.subject, text=rendered.text, html=rendered.html, preheader=rendered.preheader)))
