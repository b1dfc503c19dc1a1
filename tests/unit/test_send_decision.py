"""SPEC §5 as a table: each rule, and each ordering between two rules, decided by `decide()` alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from engine.effects import SendReason, SendStatus
from engine.model import Cap, Channel, QuietHours, Send, Settings
from engine.send_decision import Decision, Failed, Held, Sent, Skipped, Suppressed, decide

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
LATE = datetime(2026, 3, 2, 22, 0, tzinfo=timezone.utc)            # inside 21:00-08:00 in UTC
NEXT_MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)
SETTINGS = Settings(
    quiet_hours=QuietHours(time(21, 0), time(8, 0)),
    frequency_caps={"email": Cap(1, timedelta(days=7)), "sms": Cap(1, timedelta(days=1))},
)  # consent: email opt_out, sms opt_in (the defaults)
ANN = {"email": "ann@example.com", "phone": "+15550100001", "timezone": "UTC"}
HOOK = "https://crm.example/hook"
BROKEN = "ValueError: no such variable"


@dataclass(frozen=True)
class Row:
    expected: Decision[str]
    channel: Channel = Channel.EMAIL
    transactional: bool = False
    topic: str | None = None
    condition: bool = True
    traits: dict[str, Any] = field(default_factory=lambda: dict(ANN))
    sent: tuple[tuple[str, datetime], ...] = ()
    now: datetime = NOON
    listed: dict[str, str] = field(default_factory=dict)   # the suppression list
    renders: bool = True


def without(key: str, **more: Any) -> dict[str, Any]:
    return {**{k: v for k, v in ANN.items() if k != key}, **more}


def plus(**more: Any) -> dict[str, Any]:
    return {**ANN, **more}


CAPPED = (("email", NOON - timedelta(days=1)),)
ROWS: dict[str, Row] = {
    # each rule on its own
    "every rule passes: sent": Row(Sent("ann@example.com", "rendered")),
    "1 when is false: skipped": Row(Skipped(), condition=False),
    "2 no email trait: no_address": Row(Suppressed(SendReason.NO_ADDRESS, None), traits=without("email")),
    "2 a blank email is no address": Row(Suppressed(SendReason.NO_ADDRESS, None), traits=plus(email="  ")),
    "2 a phone that is not E.164: invalid_address": Row(Suppressed(SendReason.INVALID_ADDRESS, "555-0100"),
                                                        channel=Channel.SMS, traits=plus(phone="555-0100",
                                                                                          sms_subscribed=True)),
    "3 hard-bounced address: bounced": Row(Suppressed(SendReason.BOUNCED, "ann@example.com"),
                                           listed={"ann@example.com": "bounced"}),
    "3 complained address: complained": Row(Suppressed(SendReason.COMPLAINED, "ann@example.com"),
                                            listed={"ann@example.com": "complained"}),
    "4 subscribed false: unsubscribed": Row(Suppressed(SendReason.UNSUBSCRIBED, "ann@example.com"),
                                            traits=plus(email_subscribed=False)),
    "4 left the step's topic: unsubscribed": Row(Suppressed(SendReason.UNSUBSCRIBED, "ann@example.com"),
                                                 topic="promotions", traits=plus(unsubscribed_topics=["promotions"])),
    "4 another topic left still sends": Row(Sent("ann@example.com", "rendered"), topic="newsletter",
                                            traits=plus(unsubscribed_topics=["promotions"])),
    "4 silence on an opt_in channel: no_consent": Row(Suppressed(SendReason.NO_CONSENT, "+15550100001"),
                                                      channel=Channel.SMS),
    "5 cap reached in the trailing window: frequency_cap": Row(Suppressed(SendReason.FREQUENCY_CAP, "ann@example.com"),
                                                               sent=CAPPED),
    "5 a send older than the window does not count": Row(Sent("ann@example.com", "rendered"),
                                                         sent=(("email", NOON - timedelta(days=7)),)),
    "5 another channel's sends do not count": Row(Sent("ann@example.com", "rendered"),
                                                  sent=(("sms", NOON - timedelta(hours=1)),)),
    "6 inside quiet hours: held until they end": Row(Held(NEXT_MORNING), now=LATE),
    "6 quiet hours in the customer's own zone": Row(Held(datetime(2026, 3, 2, 23, 0, tzinfo=timezone.utc)),
                                                    traits=plus(timezone="Asia/Tokyo")),  # 21:00 in Tokyo
    "7 template error: failed, with the error": Row(Failed("ann@example.com", BROKEN), renders=False),
    # the order between rules
    "1 before 2: a false when with no address is skipped": Row(Skipped(), condition=False, traits=without("email")),
    "2 before 4: no address wins over unsubscribed": Row(Suppressed(SendReason.NO_ADDRESS, None),
                                                         traits=without("email", email_subscribed=False)),
    "3 before 4: bounced wins over unsubscribed": Row(Suppressed(SendReason.BOUNCED, "ann@example.com"),
                                                      traits=plus(email_subscribed=False),
                                                      listed={"ann@example.com": "bounced"}),
    "4 before 5: unsubscribed wins over the cap": Row(Suppressed(SendReason.UNSUBSCRIBED, "ann@example.com"),
                                                      traits=plus(email_subscribed=False), sent=CAPPED),
    "5 before 6: the cap suppresses inside quiet hours": Row(Suppressed(SendReason.FREQUENCY_CAP, "ann@example.com"),
                                                             sent=CAPPED, now=LATE),
    "6 before 7: a held message is not rendered yet": Row(Held(NEXT_MORNING), now=LATE, renders=False),
    "rules 2-5 again when quiet hours end": Row(Suppressed(SendReason.UNSUBSCRIBED, "ann@example.com"),
                                                now=NEXT_MORNING, traits=plus(email_subscribed=False)),
    # transactional: bypasses 4-6, never 2, 3 or 7
    "transactional bypasses consent": Row(Sent("ann@example.com", "rendered"), transactional=True,
                                          traits=plus(email_subscribed=False)),
    "transactional bypasses opt_in silence": Row(Sent("+15550100001", "rendered"), transactional=True,
                                                 channel=Channel.SMS),
    "transactional bypasses the cap": Row(Sent("ann@example.com", "rendered"), transactional=True, sent=CAPPED),
    "transactional bypasses quiet hours": Row(Sent("ann@example.com", "rendered"), transactional=True, now=LATE),
    "transactional does not bypass a bounce": Row(Suppressed(SendReason.BOUNCED, "ann@example.com"),
                                                  transactional=True, listed={"ann@example.com": "bounced"}),
    "transactional does not bypass a missing address": Row(Suppressed(SendReason.NO_ADDRESS, None),
                                                           transactional=True, traits=without("email")),
    "transactional can still fail to render": Row(Failed("ann@example.com", BROKEN), transactional=True,
                                                  renders=False),
    "transactional still honours when": Row(Skipped(), transactional=True, condition=False),
    # webhooks: rules 1 and 7 only
    "webhook: when false is skipped": Row(Skipped(), channel=Channel.WEBHOOK, condition=False),
    "webhook ignores address, consent, cap and quiet hours": Row(
        Sent(HOOK, "rendered"), channel=Channel.WEBHOOK, now=LATE, sent=CAPPED,
        traits={"email_subscribed": False, "sms_subscribed": False}),
    "webhook body error: failed": Row(Failed(HOOK, BROKEN), channel=Channel.WEBHOOK, renders=False),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_sending_rules_apply_in_spec_order(row: Row) -> None:
    calls: list[str] = []

    def render() -> str:
        calls.append("render")
        if not row.renders:
            raise ValueError("no such variable")
        return "rendered"

    send = Send(row.channel, None if row.channel is Channel.WEBHOOK else "offer", None, row.transactional,
                url=HOOK if row.channel is Channel.WEBHOOK else None, topic=row.topic)
    decision = decide(send, condition=row.condition, traits=row.traits, sent=row.sent, now=row.now,
                      settings=SETTINGS, suppression=row.listed.get, render=render)
    assert decision == row.expected
    assert calls == (["render"] if isinstance(row.expected, Sent | Failed) else [])  # rule 7 runs last, only then


def test_each_verdict_carries_the_spec_status() -> None:
    assert [d.status for d in (Sent("a", "x"), Skipped(), Suppressed(SendReason.BOUNCED, "a"), Failed("a", "e"))] == [
        SendStatus.SENT, SendStatus.SKIPPED, SendStatus.SUPPRESSED, SendStatus.FAILED]
    assert [s.value for s in SendStatus] == ["sent", "skipped", "suppressed", "failed"]
