"""Sending rules (SPEC §5): their order, what transactional bypasses, caps, quiet hours, SMS, unsubscribe links."""

from __future__ import annotations

from typing import Any

import pytest

from engine.effects import Dispatch, Message
from engine.links import SignedLinks
from engine.machine import Engine
from engine.memory_store import MemoryStore
from engine.runtimes.simulate import SIMULATE_BASE_URL, SIMULATE_SECRET
from engine.testing import Harness, email
from rules.events import parse_event

T0 = "2026-03-02T15:00:00Z"          # a Monday, 10:00 in New York (EST)
NIGHT = "2026-03-03T03:00:00Z"       # Monday 22:00 in New York: inside 21:00-08:00
MORNING = "2026-03-03T13:00:00Z"     # Tuesday 08:00 in New York: quiet hours over
NY = "America/New_York"
ANN = {"email": "ann@example.com", "timezone": NY}
TEXTER = {"phone": "+15551234567", "sms_subscribed": True, "timezone": NY}
QUIET = 'quiet_hours: {start: "21:00", end: "08:00"}'

ONE_EMAIL = """
id: promo
reentry: after_exit
trigger: {event: go}
steps:
  - id: offer
    send: email
    template: offer
"""
ONE_RECEIPT = """
id: receipt
reentry: after_exit
trigger: {event: buy}
steps:
  - id: receipt
    send: email
    template: offer
    transactional: true
"""
ONE_SMS = """
id: texts
reentry: after_exit
trigger: {event: text}
steps:
  - id: text
    send: sms
    template: short
"""
TEMPLATES = {
    "offer.email.html": email("Offer for {{ profile.first_name | default('you') }}"),
    "short.sms.txt": "Hi {{ profile.first_name | default('there') }}",
}


def ev(kind: str, at: str = T0, customer: str = "c1", traits: dict[str, Any] | None = None,
       **properties: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "customer_id": customer, "timestamp": at}
    if traits is not None:
        out["traits"] = traits
    if properties:
        out["properties"] = properties
    return out


def harness(settings: str = "", **journeys: str) -> Harness:
    return Harness(settings=settings, journeys=journeys or {"promo": ONE_EMAIL}, templates=TEMPLATES)


def outcomes(h: Harness) -> list[tuple[str, str, str, str | None]]:
    """(at, step, status, reason) of every send, in order."""
    return [(r["at"], r["step"], r["status"], r["reason"]) for r in h.of("send")]


def hard_bounce(at: str, address: str = "ann@example.com") -> dict[str, Any]:
    return ev("email_bounced", at, bounce="hard", email=address)


# ---- the order of rules 1-7 ---------------------------------------------------------

def test_a_false_when_skips_before_anything_else_is_checked() -> None:
    journey = ONE_EMAIL + "    when: \"profile.vip\"\n"
    h = harness(QUIET, promo=journey)
    h.run([ev("go", NIGHT, traits={"email_subscribed": False, "timezone": NY})])  # no address, unsubscribed, quiet
    assert outcomes(h) == [(NIGHT, "offer", "skipped", "condition")]


def test_no_address_comes_before_unsubscribed() -> None:
    h = harness()
    h.run([ev("go", traits={"email_subscribed": False})])
    assert outcomes(h) == [(T0, "offer", "suppressed", "no_address")]


def test_a_blank_address_is_no_address() -> None:
    h = harness()
    h.run([ev("go")], profiles=[("c1", {"email": "   "})])  # events refuse it (SPEC §8); older state may hold it
    assert outcomes(h) == [(T0, "offer", "suppressed", "no_address")]


def test_bounced_comes_before_unsubscribed() -> None:
    h = harness()
    h.run([hard_bounce("2026-03-01T00:00:00Z"), ev("go", traits={**ANN, "email_subscribed": False})])
    assert outcomes(h) == [(T0, "offer", "suppressed", "bounced")]


def test_complained_comes_before_unsubscribed() -> None:
    h = harness()
    h.run([ev("email_complained", "2026-03-01T00:00:00Z", traits=ANN),
           ev("go", traits={"email_subscribed": False})])
    assert outcomes(h) == [(T0, "offer", "suppressed", "complained")]


def test_a_soft_bounce_suppresses_nothing() -> None:
    h = harness()
    h.run([ev("email_bounced", "2026-03-01T00:00:00Z", traits=ANN, bounce="soft"), ev("go")])
    assert outcomes(h) == [(T0, "offer", "sent", None)]


def test_a_hard_bounce_suppresses_the_address_whatever_its_case() -> None:
    h = harness()
    h.run([hard_bounce("2026-03-01T00:00:00Z", "Ann@Example.COM"), ev("go", traits=ANN)])
    assert outcomes(h) == [(T0, "offer", "suppressed", "bounced")]


def test_a_hard_bounce_suppresses_an_address_written_with_surrounding_spaces() -> None:
    h = harness()
    h.run([ev("email_bounced", "2026-03-01T00:00:00Z", traits={"email": " ann@example.com "}, bounce="hard"),
           ev("go")])
    assert outcomes(h) == [(T0, "offer", "suppressed", "bounced")]


def test_unsubscribed_comes_before_the_frequency_cap() -> None:
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}")
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN),
           ev("unsubscribed", "2026-03-02T11:00:00Z", channel="email"),
           ev("go")])
    assert outcomes(h) == [("2026-03-02T10:00:00Z", "offer", "sent", None), (T0, "offer", "suppressed", "unsubscribed")]


def test_no_consent_on_an_opt_in_channel_comes_before_the_frequency_cap() -> None:
    h = harness("consent: {email: opt_in}\nfrequency_caps:\n  email: {max: 0, per: 1d}")
    h.run([ev("go", traits=ANN)])
    assert outcomes(h) == [(T0, "offer", "suppressed", "no_consent")]


def test_the_frequency_cap_comes_before_quiet_hours() -> None:
    # Capped at 22:00: suppressed there and then, not held until morning.
    h = harness(QUIET + "\nfrequency_caps:\n  email: {max: 0, per: 1d}")
    h.run([ev("go", NIGHT, traits=ANN)])
    assert outcomes(h) == [(NIGHT, "offer", "suppressed", "frequency_cap")]


def test_unsubscribed_comes_before_quiet_hours() -> None:
    h = harness(QUIET)
    h.run([ev("go", NIGHT, traits={**ANN, "email_subscribed": False})])
    assert outcomes(h) == [(NIGHT, "offer", "suppressed", "unsubscribed")]


def test_a_broken_template_fails_only_after_the_other_rules_pass() -> None:
    h = Harness(journeys={"promo": ONE_EMAIL}, templates={"offer.email.html": email("Hi", "{{ 1 / 0 }}")})
    h.run([ev("go", traits={**ANN, "email_subscribed": False}), ev("go", "2026-03-02T16:00:00Z", "c2",
                                                                   traits={"email": "bob@example.com"})])
    assert [(r["customer_id"], r["status"], r["reason"]) for r in h.of("send")] == [
        ("c1", "suppressed", "unsubscribed"), ("c2", "failed", "template_error"),
    ]
    assert "ZeroDivisionError" in h.of("send", customer_id="c2")[0]["error"]


def test_a_broken_template_waits_for_quiet_hours_to_end_before_failing() -> None:
    h = Harness(settings=QUIET, journeys={"promo": ONE_EMAIL}, templates={"offer.email.html": email("Hi", "{{ 1 / 0 }}")})
    h.run([ev("go", NIGHT, traits=ANN)])
    assert outcomes(h) == [(MORNING, "offer", "failed", "template_error")]


def test_a_failed_send_does_not_stop_the_journey() -> None:
    journey = ONE_EMAIL + "  - id: after\n    send: sms\n    template: short\n"
    h = Harness(journeys={"promo": journey}, templates={**TEMPLATES, "offer.email.html": email("Hi", "{{ 1 / 0 }}")})
    h.run([ev("go", traits={**ANN, **TEXTER})])
    assert [(r["step"], r["status"]) for r in h.of("send")] == [("offer", "failed"), ("after", "sent")]


# ---- consent --------------------------------------------------------------------------

def test_email_is_opt_out_by_default_so_silence_is_consent() -> None:
    h = harness()
    h.run([ev("go", traits=ANN)])
    assert outcomes(h) == [(T0, "offer", "sent", None)]


def test_sms_is_opt_in_by_default_so_silence_is_no_consent() -> None:
    h = harness(texts=ONE_SMS)
    h.run([ev("text", traits={"phone": "+15551234567"})])
    assert outcomes(h) == [(T0, "text", "suppressed", "no_consent")]


def test_an_explicit_false_wins_even_on_an_opt_out_channel() -> None:
    h = harness()
    h.run([ev("go", traits={**ANN, "email_subscribed": False})])
    assert outcomes(h) == [(T0, "offer", "suppressed", "unsubscribed")]


def test_an_unsubscribed_event_sets_the_channel_to_false() -> None:
    h = harness(texts=ONE_SMS)
    h.run([ev("unsubscribed", "2026-03-01T00:00:00Z", traits=TEXTER, channel="sms"), ev("text")])
    assert outcomes(h) == [(T0, "text", "suppressed", "unsubscribed")]


# ---- transactional ---------------------------------------------------------------------

def test_transactional_bypasses_consent() -> None:
    h = harness("consent: {email: opt_in}", receipt=ONE_RECEIPT)
    h.run([ev("buy", traits={**ANN, "email_subscribed": False}), ev("buy", "2026-03-02T16:00:00Z", "c2",
                                                                   traits={"email": "bob@example.com"})])
    assert [(r["customer_id"], r["status"]) for r in h.of("send")] == [("c1", "sent"), ("c2", "sent")]


def test_transactional_bypasses_frequency_caps() -> None:
    h = harness("frequency_caps:\n  email: {max: 0, per: 7d}", receipt=ONE_RECEIPT)
    h.run([ev("buy", traits=ANN)])
    assert outcomes(h) == [(T0, "receipt", "sent", None)]


def test_transactional_bypasses_quiet_hours() -> None:
    h = harness(QUIET, receipt=ONE_RECEIPT)
    h.run([ev("buy", NIGHT, traits=ANN)])
    assert outcomes(h) == [(NIGHT, "receipt", "sent", None)]


@pytest.mark.parametrize(("provider_event", "reason"), [("email_bounced", "bounced"), ("email_complained", "complained")])
def test_transactional_never_bypasses_bounce_or_complaint_suppression(provider_event: str, reason: str) -> None:
    h = harness(receipt=ONE_RECEIPT)
    h.run([ev(provider_event, "2026-03-01T00:00:00Z", traits=ANN, bounce="hard"), ev("buy")])
    assert outcomes(h) == [(T0, "receipt", "suppressed", reason)]


def test_transactional_without_an_address_is_no_address() -> None:
    h = harness(receipt=ONE_RECEIPT)
    h.run([ev("buy", traits={"first_name": "Ann"})])
    assert outcomes(h) == [(T0, "receipt", "suppressed", "no_address")]


def test_transactional_sends_do_not_count_toward_the_cap() -> None:
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}", promo=ONE_EMAIL, receipt=ONE_RECEIPT)
    h.run([ev("buy", "2026-03-02T10:00:00Z", traits=ANN), ev("buy", "2026-03-02T11:00:00Z"), ev("go")])
    assert [(r["step"], r["status"]) for r in h.of("send")] == [("receipt", "sent"), ("receipt", "sent"), ("offer", "sent")]


# ---- frequency caps ------------------------------------------------------------------------

CAP_2_PER_DAY = "frequency_caps:\n  email: {max: 2, per: 1d}"


def test_the_cap_suppresses_the_send_over_max_in_the_window() -> None:
    h = harness(CAP_2_PER_DAY)
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN), ev("go", "2026-03-02T11:00:00Z"), ev("go", "2026-03-02T12:00:00Z")])
    assert [r["status"] for r in h.of("send")] == ["sent", "sent", "suppressed"]
    assert h.of("send")[-1]["reason"] == "frequency_cap"


def test_a_send_exactly_per_ago_no_longer_counts() -> None:
    h = harness(CAP_2_PER_DAY)
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN), ev("go", "2026-03-02T11:00:00Z"),
           ev("go", "2026-03-03T10:00:00Z")])
    assert [r["status"] for r in h.of("send")] == ["sent", "sent", "sent"]


def test_a_send_one_second_short_of_per_ago_still_counts() -> None:
    h = harness(CAP_2_PER_DAY)
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN), ev("go", "2026-03-02T11:00:00Z"),
           ev("go", "2026-03-03T09:59:59Z")])
    assert [r["status"] for r in h.of("send")] == ["sent", "sent", "suppressed"]


def test_suppressed_sends_do_not_count_toward_the_cap() -> None:
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}")
    h.run([ev("go", "2026-03-02T10:00:00Z", traits={"email_subscribed": False, "email": "ann@example.com"}),
           ev("go", "2026-03-02T11:00:00Z", traits={"email_subscribed": True})])
    assert [r["status"] for r in h.of("send")] == ["suppressed", "sent"]


def test_capped_sends_do_not_count_toward_the_cap() -> None:
    # Sent at 10:00, capped at 11:00; at 10:00 next day only the 10:00 send has left the window.
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}")
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN), ev("go", "2026-03-02T11:00:00Z"),
           ev("go", "2026-03-03T10:00:00Z")])
    assert [r["status"] for r in h.of("send")] == ["sent", "suppressed", "sent"]


def test_skipped_sends_do_not_count_toward_the_cap() -> None:
    journey = ONE_EMAIL + "    when: \"event.properties.ok\"\n"
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}", promo=journey)
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN, ok=False), ev("go", "2026-03-02T11:00:00Z", ok=True)])
    assert [r["status"] for r in h.of("send")] == ["skipped", "sent"]


def test_failed_sends_do_not_count_toward_the_cap() -> None:
    journey = ONE_EMAIL.replace("template: offer", "template: broken") + "  - send: email\n    template: offer\n"
    templates = {**TEMPLATES, "broken.email.html": email("Hi", "{{ 1 / 0 }}")}
    h = Harness(settings="frequency_caps:\n  email: {max: 1, per: 1d}", journeys={"promo": journey}, templates=templates)
    h.run([ev("go", traits=ANN)])
    assert [r["status"] for r in h.of("send")] == ["failed", "sent"]


def test_caps_are_per_channel() -> None:
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}\n  sms: {max: 1, per: 1d}", promo=ONE_EMAIL, texts=ONE_SMS)
    h.run([ev("go", "2026-03-02T10:00:00Z", traits={**ANN, **TEXTER}), ev("text", "2026-03-02T11:00:00Z"),
           ev("go", "2026-03-02T12:00:00Z"), ev("text", "2026-03-02T13:00:00Z")])
    assert [(r["channel"], r["status"]) for r in h.of("send")] == [
        ("email", "sent"), ("sms", "sent"), ("email", "suppressed"), ("sms", "suppressed"),
    ]


def test_a_channel_without_a_cap_is_never_capped() -> None:
    h = harness("frequency_caps:\n  sms: {max: 1, per: 1d}")
    h.run([ev("go", f"2026-03-02T1{n}:00:00Z", traits=ANN) for n in range(5)])
    assert [r["status"] for r in h.of("send")] == ["sent"] * 5


def test_caps_are_per_customer() -> None:
    h = harness("frequency_caps:\n  email: {max: 1, per: 1d}")
    h.run([ev("go", "2026-03-02T10:00:00Z", traits=ANN),
           ev("go", "2026-03-02T11:00:00Z", "c2", traits={"email": "bob@example.com"})])
    assert [r["status"] for r in h.of("send")] == ["sent", "sent"]


def test_a_capped_send_lets_the_journey_go_on() -> None:
    journey = ONE_EMAIL + "  - id: later\n    send: sms\n    template: short\n"
    h = harness("frequency_caps:\n  email: {max: 0, per: 1d}", promo=journey)
    h.run([ev("go", traits={**ANN, **TEXTER})])
    assert [(r["step"], r["status"], r["reason"]) for r in h.of("send")] == [
        ("offer", "suppressed", "frequency_cap"), ("later", "sent", None),
    ]
    assert h.of("exited")[0]["reason"] == "completed"


def test_sends_in_a_week_long_window_count_across_days() -> None:
    h = harness("frequency_caps:\n  email: {max: 3, per: 7d}")
    days = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-08", "2026-03-09"]
    h.run([ev("go", f"{d}T15:00:00Z", traits=ANN) for d in days])
    # The fifth, on 9 March 15:00, is exactly 7 days after the first: the first has left the window.
    assert [r["status"] for r in h.of("send")] == ["sent", "sent", "sent", "suppressed", "sent"]


# ---- quiet hours ----------------------------------------------------------------------------

TWO_STEP = """
id: promo
reentry: after_exit
exit_on: [{event: stop}]
trigger: {event: go}
steps:
  - id: offer
    send: email
    template: offer
  - wait: 1h
  - id: follow_up
    send: email
    template: offer
"""


def test_a_marketing_email_inside_quiet_hours_waits_until_they_end_in_the_customers_zone() -> None:
    h = harness(QUIET)
    h.run([ev("go", NIGHT, traits=ANN)])
    assert outcomes(h) == [(MORNING, "offer", "sent", None)]


def test_quiet_hours_are_read_in_the_workspace_zone_when_the_profile_has_none() -> None:
    h = harness(QUIET + "\ntimezone: Asia/Tokyo")
    h.run([ev("go", "2026-03-02T13:00:00Z", traits={"email": "ann@example.com"})])  # 22:00 JST
    assert outcomes(h) == [("2026-03-02T23:00:00Z", "offer", "sent", None)]     # 08:00 JST


def test_the_rest_of_the_journey_is_delayed_with_the_held_message() -> None:
    h = harness(QUIET, promo=TWO_STEP)
    h.run([ev("go", NIGHT, traits=ANN)])
    assert outcomes(h) == [(MORNING, "offer", "sent", None), ("2026-03-03T14:00:00Z", "follow_up", "sent", None)]
    assert h.of("exited")[0]["at"] == "2026-03-03T14:00:00Z"


def test_a_later_step_that_reaches_quiet_hours_is_held_too() -> None:
    journey = TWO_STEP.replace("wait: 1h", "wait: 11h")  # 10:00 + 11h = 21:00, the first quiet minute
    h = harness(QUIET, promo=journey)
    h.run([ev("go", traits=ANN)])
    assert outcomes(h) == [(T0, "offer", "sent", None), (MORNING, "follow_up", "sent", None)]


def test_same_day_quiet_hours_hold_until_their_end() -> None:
    h = harness('quiet_hours: {start: "12:00", end: "14:00"}')
    h.run([ev("go", "2026-03-02T17:00:00Z", traits=ANN)])          # 12:00 EST: start is inclusive
    assert outcomes(h) == [("2026-03-02T19:00:00Z", "offer", "sent", None)]  # 14:00 EST


def test_a_send_at_the_end_of_quiet_hours_goes_at_once() -> None:
    h = harness(QUIET)
    h.run([ev("go", MORNING, traits=ANN)])
    assert outcomes(h) == [(MORNING, "offer", "sent", None)]


def test_quiet_hours_whose_start_equals_their_end_hold_nothing() -> None:
    h = harness('quiet_hours: {start: "08:00", end: "08:00"}')
    h.run([ev("go", NIGHT, traits=ANN)])
    assert outcomes(h) == [(NIGHT, "offer", "sent", None)]


def test_unsubscribing_during_the_night_suppresses_the_held_message_at_release() -> None:
    h = harness(QUIET, promo=TWO_STEP)
    h.run([ev("go", NIGHT, traits=ANN), ev("unsubscribed", "2026-03-03T05:00:00Z", channel="email")])
    assert outcomes(h) == [
        (MORNING, "offer", "suppressed", "unsubscribed"),
        ("2026-03-03T14:00:00Z", "follow_up", "suppressed", "unsubscribed"),
    ]


def test_a_cap_filled_during_the_night_suppresses_the_second_held_message() -> None:
    second = ONE_EMAIL.replace("id: promo", "id: promo_b").replace("event: go", "event: go_b")
    h = harness(QUIET + "\nfrequency_caps:\n  email: {max: 1, per: 1d}", promo=ONE_EMAIL, promo_b=second)
    h.run([ev("go", NIGHT, traits=ANN), ev("go_b", "2026-03-03T05:00:00Z")])
    assert [(r["at"], r["journey"], r["status"], r["reason"]) for r in h.of("send")] == [
        (MORNING, "promo", "sent", None), (MORNING, "promo_b", "suppressed", "frequency_cap"),
    ]


def test_a_transactional_send_during_the_night_does_not_fill_the_cap() -> None:
    h = harness(QUIET + "\nfrequency_caps:\n  email: {max: 1, per: 1d}", promo=ONE_EMAIL, receipt=ONE_RECEIPT)
    h.run([ev("go", NIGHT, traits=ANN), ev("buy", "2026-03-03T05:00:00Z")])
    assert [(r["at"], r["step"], r["status"]) for r in h.of("send")] == [
        ("2026-03-03T05:00:00Z", "receipt", "sent"), (MORNING, "offer", "sent"),
    ]


def test_an_address_removed_during_the_night_is_no_address_at_release() -> None:
    h = harness(QUIET)
    h.run([ev("go", NIGHT, traits=ANN), ev("update", "2026-03-03T05:00:00Z", traits={"email": None})])
    assert outcomes(h) == [(MORNING, "offer", "suppressed", "no_address")]


def test_a_hard_bounce_during_the_night_suppresses_at_release() -> None:
    h = harness(QUIET)
    h.run([ev("go", NIGHT, traits=ANN), hard_bounce("2026-03-03T05:00:00Z")])
    assert outcomes(h) == [(MORNING, "offer", "suppressed", "bounced")]


def test_a_held_message_is_not_resent_nor_duplicated() -> None:
    h = harness(QUIET)
    h.run([ev("go", NIGHT, traits=ANN)], until="2026-03-10T00:00:00Z")
    assert len(h.of("send")) == 1


def test_when_is_not_evaluated_again_at_release() -> None:
    # SPEC §5 rule 6: rules 2-5 apply again, not rule 1.
    journey = ONE_EMAIL + "    when: \"profile.vip\"\n"
    h = harness(QUIET, promo=journey)
    h.run([ev("go", NIGHT, traits={**ANN, "vip": True}), ev("update", "2026-03-03T05:00:00Z", traits={"vip": False})])
    assert outcomes(h) == [(MORNING, "offer", "sent", None)]


def test_an_exit_event_during_the_night_cancels_the_held_message() -> None:
    h = harness(QUIET, promo=TWO_STEP)
    h.run([ev("go", NIGHT, traits=ANN), ev("stop", "2026-03-03T05:00:00Z")])
    assert h.of("send") == []
    assert [(r["at"], r["reason"]) for r in h.of("exited")] == [("2026-03-03T05:00:00Z", "exit_event")]


def test_moving_zone_during_the_night_holds_until_the_end_of_quiet_hours_in_the_new_zone() -> None:
    # Held at 22:00 in New York; the customer moves to Los Angeles, where 08:00 is three hours later.
    h = harness(QUIET)
    h.run([ev("go", NIGHT, traits=ANN), ev("update", "2026-03-03T05:00:00Z", traits={"timezone": "America/Los_Angeles"})])
    assert outcomes(h) == [("2026-03-03T16:00:00Z", "offer", "sent", None)]


def test_webhooks_ignore_quiet_hours_and_consent() -> None:
    journey = """
    id: hook
    trigger: {event: go}
    steps:
      - send: webhook
        url: https://crm.example/hook
        body: {customer: "profile.email"}
    """
    h = harness(QUIET + "\nconsent: {email: opt_in}", hook=journey)
    h.run([ev("go", NIGHT, traits={**ANN, "email_subscribed": False})])
    assert [(r["at"], r["status"]) for r in h.of("send")] == [(NIGHT, "sent")]


# ---- SMS -------------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", ["5551234567", "+0155512345", "+1 555 123 4567", "+1555", "tel:+15551234567"])
def test_an_sms_to_a_phone_not_in_e164_is_an_invalid_address(phone: str) -> None:
    h = harness(texts=ONE_SMS)
    h.run([ev("text", traits={"sms_subscribed": True})], profiles=[("c1", {"phone": phone})])  # events refuse it (SPEC §8)
    assert outcomes(h) == [(T0, "text", "suppressed", "invalid_address")]


def test_an_invalid_phone_comes_before_consent() -> None:
    h = harness(texts=ONE_SMS)
    h.run([ev("text")], profiles=[("c1", {"phone": "555-1234"})])
    assert outcomes(h) == [(T0, "text", "suppressed", "invalid_address")]


def test_an_sms_without_a_phone_is_no_address() -> None:
    h = harness(texts=ONE_SMS)
    h.run([ev("text", traits={"sms_subscribed": True, "email": "ann@example.com"})])
    assert outcomes(h) == [(T0, "text", "suppressed", "no_address")]


@pytest.mark.parametrize(("body", "segments", "encoding"), [
    ("Hi there", 1, "GSM-7"),
    ("x" * 160, 1, "GSM-7"),
    ("x" * 161, 2, "GSM-7"),
    ("€" * 80, 1, "GSM-7"),            # an extended character takes two septets: 160
    ("€" * 81, 2, "GSM-7"),
    ("Olá 😀", 1, "UCS-2"),
    ("ç" * 70, 1, "UCS-2"),            # lower-case c-cedilla is not in GSM-7
    ("ç" * 71, 2, "UCS-2"),
])
def test_sms_records_carry_their_segments_and_encoding(body: str, segments: int, encoding: str) -> None:
    h = Harness(journeys={"texts": ONE_SMS}, templates={"short.sms.txt": body})
    h.run([ev("text", traits=TEXTER)])
    [record] = h.of("send")
    assert (record["status"], record["text"], record["segments"], record["encoding"]) == ("sent", body, segments, encoding)


def test_email_records_carry_no_segments() -> None:
    h = harness()
    h.run([ev("go", traits=ANN)])
    assert "segments" not in h.of("send")[0]


# ---- unsubscribe links ----------------------------------------------------------------------

LINKED = {"offer.email.html": email("Hi", '<p>Offer</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'),
          "short.sms.txt": "Hi"}


def dispatched(h: Harness, events: list[dict[str, Any]]) -> list[Message]:
    """Run the machine directly, to see the messages it hands to connectors."""
    engine = Engine(h.workspace, MemoryStore(), SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL))
    messages: list[Message] = []
    for raw in events:
        messages += [e.message for e in engine.handle_event(parse_event(raw)) if isinstance(e, Dispatch)]
    return messages


def test_a_marketing_email_gets_an_unsubscribe_url_and_one_click_headers() -> None:
    h = Harness(journeys={"promo": ONE_EMAIL}, templates=LINKED)
    [message] = dispatched(h, [ev("go", traits=ANN)])
    url = SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL).unsubscribe_url("c1", "email")
    assert message.headers == {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert f'href="{url}"' in (message.html or "")
    assert url in message.text


def test_the_unsubscribe_url_is_signed_for_that_customer_and_channel() -> None:
    h = Harness(journeys={"promo": ONE_EMAIL}, templates=LINKED)
    [message] = dispatched(h, [ev("go", traits=ANN)])
    token = message.headers["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    assert SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL).verify(token) == ("c1", "email")
    assert SignedLinks(b"another secret", SIMULATE_BASE_URL).verify(token) is None


def test_a_transactional_email_has_no_unsubscribe_url_nor_headers() -> None:
    h = Harness(journeys={"receipt": ONE_RECEIPT}, templates=LINKED)
    [message] = dispatched(h, [ev("buy", traits=ANN)])
    assert message.headers == {}
    assert "/u/" not in (message.html or "") and 'href=""' in (message.html or "")
    assert message.transactional is True


def test_an_sms_has_no_unsubscribe_headers() -> None:
    h = Harness(journeys={"texts": ONE_SMS}, templates=LINKED)
    [message] = dispatched(h, [ev("text", traits=TEXTER)])
    assert message.headers == {}


def test_the_unsubscribe_url_in_a_simulated_record_is_the_signed_one() -> None:
    h = Harness(journeys={"promo": ONE_EMAIL}, templates={"offer.email.html": email("Hi", "<p>{{ unsubscribe_url }}</p>")})
    h.run([ev("go", traits=ANN)])
    assert h.of("send")[0]["text"] == SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL).unsubscribe_url("c1", "email")


def test_a_suppressed_send_dispatches_nothing() -> None:
    h = Harness(journeys={"promo": ONE_EMAIL}, templates=LINKED)
    assert dispatched(h, [ev("go", traits={**ANN, "email_subscribed": False})]) == []


def test_each_sent_message_is_dispatched_exactly_once_with_a_stable_id() -> None:
    h = Harness(journeys={"promo": ONE_EMAIL}, templates=LINKED)
    first = dispatched(h, [ev("go", traits=ANN)])
    again = dispatched(h, [ev("go", traits=ANN)])
    assert len(first) == 1 and [m.id for m in first] == [m.id for m in again]
