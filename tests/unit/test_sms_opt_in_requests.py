"""A customer who turns texts on in the preference centre gets one confirmation text (a link), at most one a
day; requested reminders start with the consent, however it comes (the link, or a YES reply)."""

from __future__ import annotations

from engine.testing import Harness, journey_yaml, send_step

PHONE = {"email": "ann@example.com", "phone": "+15551234567"}
SETTINGS = 'sender: {email: "Shop <hi@shop.example>", sms: "+15550100000"}'


def request(at: str, **traits: object) -> dict[str, object]:
    return {"type": "subscription_requested", "customer_id": "c1", "timestamp": f"2026-03-02T{at}:00Z",
            "properties": {"channel": "sms", "source": "preference centre"}, "traits": traits}


def test_a_request_for_texts_sends_one_confirmation_link_a_day_without_a_workspace_template() -> None:
    h = Harness(settings=SETTINGS)
    h.run([request("10:00", **PHONE), request("11:00"),
           {**request("12:00"), "timestamp": "2026-03-03T12:00:00Z"}])
    sends = h.of("send", journey="double_opt_in")
    assert [(s["at"], s["to"], s["transactional"]) for s in sends] == [
        ("2026-03-02T10:00:00Z", "+15551234567", True), ("2026-03-03T12:00:00Z", "+15551234567", True)]
    assert sends[0]["text"].startswith("Shop: tap to confirm you want our texts: https://nudge.invalid/confirm/")
    assert sends[0]["message_id"] != sends[1]["message_id"]


def test_no_confirmation_is_asked_of_a_customer_who_already_consented() -> None:
    h = Harness(settings=SETTINGS)
    h.run([request("10:00", **PHONE, sms_subscribed=True)])
    assert h.of("send") == []


def test_requested_reminders_start_when_consent_arrives_by_a_yes_reply() -> None:
    journey = journey_yaml("go", "{event: subscribed, where: \"profile.sms_reminders\"}", send_step("hi", "hi", "sms"))
    h = Harness(settings=SETTINGS, journeys={"go": journey}, templates={"hi.sms.txt": "Reminders on"})
    h.run([request("10:00", **PHONE, sms_reminders_requested=True),
           {"type": "subscribed", "customer_id": "c1", "timestamp": "2026-03-02T10:05:00Z",
            "properties": {"channel": "sms", "source": "twilio inbound"}}])
    assert [(s["journey"], s["status"]) for s in h.of("send")] == [("double_opt_in", "sent"), ("go", "sent")]
