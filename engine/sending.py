"""A send step carried out: the journey filter, the SPEC §5 decision, its record and the message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, assert_never

from orjson import OPT_SORT_KEYS, dumps

from engine.conditions import context, holds
from engine.content_tests import Content, ContentTests
from engine.effects import Dispatch, ExitReason, Message, SendReason, SendStatus
from engine.model import Channel, Journey, Rendered, Send, Workspace
from engine.policies import prune_sent
from engine.ports import Links, Store
from engine.send_decision import Decision, Failed, Held, Sent, Skipped, Suppressed, decide
from engine.state import CustomerState, Instance, Waiting
from engine.tracking import with_utm
from engine.turn import Flow, Turn, iso, iteration_of, message_id, pass_of


class Sending:
    """Send steps of every journey; the store answers suppression lookups, the links sign URLs."""

    def __init__(self, workspace: Workspace, store: Store, links: Links) -> None:
        self.workspace = workspace
        self.settings = workspace.settings
        self.store = store
        self.links = links
        self.tests = ContentTests(store)

    def run(self, turn: Turn, journey: Journey, inst: Instance, send: Send, deferred: bool) -> Flow:
        """`deferred`: resumed after quiet hours, whose hold already judged `when` (SPEC §5 rule 6)."""
        step = inst.step_id
        if journey.filter is not None and not holds(turn, journey, inst, journey.filter, step):
            turn.exit(journey.id, inst, ExitReason.FILTER)
            return Flow.STOP
        condition = deferred or send.when is None or holds(turn, journey, inst, send.when, step)
        mid = message_id(inst.id, pass_of(inst))
        state = turn.state
        if send.channel is Channel.WEBHOOK:
            verdict = decide(send, condition=condition, traits=state.traits, sent=state.sent, now=turn.now,
                          settings=self.settings, suppression=self.store.suppression,
                          render=partial(self._body, turn, journey, inst, send))
            return self._webhook(turn, journey, inst, send, mid, verdict)
        test = None
        if send.variants:
            test = self.tests.content(turn, journey.id, step, journey.program[inst.pc].variant, send)
            send = test.send
        decision = decide(send, condition=condition, traits=state.traits, sent=state.sent, now=turn.now,
                          settings=self.settings, suppression=self.store.suppression,
                          render=partial(self._render, turn, journey, inst, send, mid, test))
        match decision:
            case Sent(address=address, content=(rendered, unsubscribe)):
                self._sent(turn, journey, inst, send, mid, address, rendered, unsubscribe, test)
            case Skipped(reason=reason, status=status):
                self._record(turn, journey, inst, send, mid, status, reason, None, test=test)
            case Suppressed(reason=reason, address=address, status=status):
                self._record(turn, journey, inst, send, mid, status, reason, address, test=test)
            case Held(until=until):
                turn.park(journey.id, inst, Waiting.QUIET, until)
                return Flow.STOP
            case Failed(address=address, error=error, reason=reason, status=status):
                turn.diag(journey.id, step, f"template '{send.template}': {error}")
                self._record(turn, journey, inst, send, mid, status, reason, address, error=error, test=test)
            case _:
                assert_never(decision)
        return Flow.NEXT

    def _render(self, turn: Turn, journey: Journey, inst: Instance, send: Send,
                mid: str, test: Content | None) -> tuple[Rendered, str | None]:
        """The message and, for marketing email, its one-click unsubscribe link; a tested subject replaces the template's.
        A marketing message of any channel may link to the preference centre (`preferences_url`)."""
        state, channel = turn.state, send.channel
        ctx = context(turn, journey, inst, inst.event)
        unsubscribe = None
        if not send.transactional and channel in (Channel.EMAIL, Channel.SMS):
            ctx["preferences_url"] = self.links.unsubscribe_url(state.key, channel.value)
        if not send.transactional and channel is Channel.EMAIL:
            unsubscribe = ctx["unsubscribe_url"] = ctx["preferences_url"]
        track = self._tracker(state.key, channel.value, mid, journey.id, inst.step_id)
        assert send.template is not None  # email and sms steps name one (the compiler checks)
        rendered = self.workspace.renderer.render(send.template, channel.value, locale(state), ctx, track)
        if test is not None and test.subject is not None:
            subject = test.subject.render({"unsubscribe_url": unsubscribe or "", **ctx})
            rendered = replace(rendered, subject=" ".join(subject.split()))
        return rendered, unsubscribe

    def _sent(self, turn: Turn, journey: Journey, inst: Instance, send: Send, mid: str, address: str,
              rendered: Rendered, unsubscribe: str | None, test: Content | None) -> None:
        state, now, channel = turn.state, turn.now, send.channel
        headers = {}
        if unsubscribe:
            headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        message = Message(
            id=mid, at=iso(now), channel=channel.value, template=send.template, to=address,
            customer_id=state.customer_id, journey=journey.id, step=inst.step_id,
            variant=test.label if test else journey.program[inst.pc].variant, transactional=send.transactional,
            subject=rendered.subject, text=rendered.text, html=rendered.html,
            preheader=rendered.preheader, headers=headers,
        )
        if not send.transactional:
            prune_sent(state, now, self.settings)  # only sends inside the longest cap window count again
            state.sent.append((channel.value, now))
        segments = (rendered.segments, rendered.encoding or "") if rendered.segments is not None else None
        self._record(turn, journey, inst, send, mid, SendStatus.SENT, None, address, rendered.subject, rendered.text,
                     segments=segments, test=test)
        turn.effects.append(Dispatch(message))
        if test is not None:
            self.tests.exposed(turn, journey.id, inst.step_id, test, mid)

    def _body(self, turn: Turn, journey: Journey, inst: Instance, send: Send) -> dict[str, Any]:
        ctx = context(turn, journey, inst, inst.event)
        return {key: value.evaluate(ctx) if hasattr(value, "evaluate") else value
                for key, value in (send.body or {}).items()}

    def _webhook(self, turn: Turn, journey: Journey, inst: Instance, send: Send, mid: str,
                 decision: Decision[dict[str, Any]]) -> Flow:
        match decision:
            case Sent(address=url, content=body):
                text = dumps(body, option=OPT_SORT_KEYS, default=str).decode()
                message = Message(
                    id=mid, at=iso(turn.now), channel="webhook", template=None, to=url,
                    customer_id=turn.state.customer_id, journey=journey.id, step=inst.step_id,
                    variant=journey.program[inst.pc].variant, transactional=True, subject=None, text=text,
                    method=send.method, body=body,
                )
                self._record(turn, journey, inst, send, mid, SendStatus.SENT, None, url, None, text)
                turn.effects.append(Dispatch(message))
            case Skipped(reason=reason, status=status):
                self._record(turn, journey, inst, send, mid, status, reason, None)
            case Failed(address=url, error=error, reason=reason, status=status):
                turn.diag(journey.id, inst.step_id, f"webhook body: {error}")
                self._record(turn, journey, inst, send, mid, status, reason, url, error=error)
            case Suppressed() | Held():
                raise AssertionError("a webhook is judged by rules 1 and 7 only")
            case _:
                assert_never(decision)
        return Flow.NEXT

    def _tracker(self, key: str, channel: str, mid: str, journey: str, step: str) -> Callable[[str], str] | None:
        """Link tracking, when the workspace turns it on: each link a signed redirect (with UTM)."""
        settings = self.settings
        if not settings.track_links:
            return None

        def track(url: str) -> str:
            target = with_utm(url, channel, journey, step) if settings.utm else url
            return self.links.click_url(key, channel, mid, journey, step, target)

        return track

    def _record(self, turn: Turn, journey: Journey, inst: Instance, send: Send, mid: str, status: SendStatus,
                reason: SendReason | None, to: str | None, subject: str | None = None, text: str | None = None,
                error: str | None = None, segments: tuple[int, str] | None = None,
                test: Content | None = None) -> None:
        extra: dict[str, Any] = {"message_id": mid}
        if test is not None and test.decided:
            extra["winner"] = True
        if error is not None:
            extra["error"] = error
        if segments is not None:
            extra["segments"], extra["encoding"] = segments
        turn.out(
            journey.id, "send", step=inst.step_id, channel=send.channel.value, template=send.template,
            to=to, status=status, reason=reason, subject=subject, text=text,
            variant=test.label if test else journey.program[inst.pc].variant, transactional=send.transactional, **extra,
            **iteration_of(inst),
        )


def locale(state: CustomerState) -> str | None:
    """`profile.locale` when it is text: it picks a template's locale variant."""
    value = state.traits.get("locale")
    return value if isinstance(value, str) else None
