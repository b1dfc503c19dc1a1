"""Link tracking (signed redirects with UTM) and double opt-in, through the engine."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.links import SignedLinks
from engine.runtimes.simulate import SIMULATE_BASE_URL, SIMULATE_SECRET
from engine.testing import Harness, email, write_workspace
from engine.tracking import with_utm
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

LINKS = SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL)
JOURNEY = "id: promo\ntrigger: {event: promo}\nsteps:\n  - id: offer\n    send: email\n    template: offer\n"
OFFER = email("Offer", '<a href="https://shop.example/sale?x=1">Sale</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a>')
ANN = {"email": "ann@example.com"}


def test_utm_parameters_are_added_but_never_overwrite_the_marketers_own() -> None:
    url = with_utm("https://shop.example/p?utm_source=newsletter&id=3", "email", "promo", "offer")
    assert parse_qs(urlsplit(url).query) == {"utm_source": ["newsletter"], "id": ["3"], "utm_medium": ["email"],
                                             "utm_campaign": ["promo"], "utm_content": ["offer"]}


def test_tracked_links_are_signed_redirects_and_the_unsubscribe_link_is_left_alone() -> None:
    h = Harness(settings="tracking: {links: true}", journeys={"promo": JOURNEY}, templates={"offer.email.html": OFFER})
    h.run([{"type": "promo", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z", "traits": ANN}])
    [send] = h.of("send")
    assert "https://shop.example" not in send["text"] and "https://nudge.invalid/c/" in send["text"]
    token = send["text"].split("https://nudge.invalid/c/")[1].split(")")[0]
    fields = LINKS.open("click", token, 6)
    assert fields is not None
    key, channel, mid, journey, step, url = fields
    assert (key, channel, mid, journey, step) == ("c1", "email", send["message_id"], "promo", "offer")
    assert url == "https://shop.example/sale?x=1&utm_source=nudge&utm_medium=email&utm_campaign=promo&utm_content=offer"
    assert "https://nudge.invalid/u/" in send["text"]  # unsubscribe stays a direct link


def test_a_tampered_click_token_opens_nothing() -> None:
    token = LINKS.sign("click", "c1", "email", "m", "j", "s", "https://shop.example")
    payload, mac = token.split(".")
    assert LINKS.open("click", payload[:-2] + "AA." + mac, 6) is None
    assert LINKS.open("unsubscribe", token, 6) is None  # a token is good for one purpose only


def test_sms_links_are_tracked_and_their_segments_counted_after_rewriting() -> None:
    journey = "id: t\ntrigger: {event: go}\nsteps:\n  - send: sms\n    template: s\n"
    h = Harness(settings="tracking: {links: true, utm: false}", journeys={"t": journey},
                templates={"s.sms.txt": "See https://shop.example/a now"})
    h.run([{"type": "go", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z",
            "traits": {"phone": "+15550000001", "sms_subscribed": True}}])
    [send] = h.of("send")
    assert send["text"].startswith("See https://nudge.invalid/c/") and send["segments"] == (1 if len(send["text"]) <= 160 else 2)


CONFIRM = {"confirm_subscription.email.html": email("Please confirm", '<a href="{{ confirm_url }}">Confirm</a>'),
           "offer.email.html": OFFER}


def test_double_opt_in_sends_one_confirmation_and_holds_marketing_until_confirmed() -> None:
    again = JOURNEY.replace("trigger:", "reentry: after_exit\ntrigger:")
    h = Harness(settings="double_opt_in: {email: true}", journeys={"promo": again}, templates=CONFIRM)
    h.run([{"type": "promo", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z", "traits": ANN},
           {"type": "promo", "customer_id": "c1", "timestamp": "2026-03-02T11:00:00Z", "traits": ANN},
           {"type": "subscribed", "customer_id": "c1", "timestamp": "2026-03-02T12:00:00Z",
            "properties": {"channel": "email", "source": "double opt-in link"}},
           {"type": "promo", "customer_id": "c1", "timestamp": "2026-03-02T13:00:00Z"}])
    sends = [(r["at"][11:16], r["journey"], r["status"], r["reason"]) for r in h.of("send")]
    assert sends == [("10:00", "double_opt_in", "sent", None), ("10:00", "promo", "suppressed", "no_consent"),
                     ("11:00", "promo", "suppressed", "no_consent"), ("13:00", "promo", "sent", None)]
    confirmation = h.of("send", journey="double_opt_in")[0]
    assert confirmation["transactional"] is True and "https://nudge.invalid/confirm/" in confirmation["text"]


def test_double_opt_in_needs_its_template(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings="double_opt_in: {email: true}", journeys={"promo": JOURNEY},
                    templates={"offer.email.html": OFFER})
    with pytest.raises(WorkspaceError, match="template 'confirm_subscription' does not exist"):
        load_workspace(tmp_path)


def test_a_marketing_text_links_to_the_preference_centre_for_its_channel_and_the_link_is_never_wrapped() -> None:
    journey = "id: tips\ntrigger: {event: tip}\nsteps:\n  - {id: tip, send: sms, template: tip}\n"
    h = Harness(settings="tracking: {links: true}", journeys={"tips": journey},
                templates={"tip.sms.txt": "Today's tip. Reminders: {{ preferences_url }}"})
    h.run([{"type": "tip", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z",
            "traits": {"phone": "+15555550100", "sms_subscribed": True}}])
    [send] = h.of("send")
    link = send["text"].split("Reminders: ")[1]
    assert link.startswith("https://nudge.invalid/u/")
    assert LINKS.verify(link.split("/u/")[1]) == ("c1", "sms")


def test_a_transactional_message_has_no_preference_centre_link() -> None:
    journey = "id: receipt\ntrigger: {event: order}\nsteps:\n  - {id: r, send: email, template: r, transactional: true}\n"
    h = Harness(journeys={"receipt": journey},
                templates={"r.email.html": email("Receipt", "Thanks.{% if preferences_url %} {{ preferences_url }}{% endif %}")})
    h.run([{"type": "order", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z", "traits": ANN}])
    [send] = h.of("send")
    assert "/u/" not in send["text"]
