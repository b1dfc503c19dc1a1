"""`nudge run` with the SendGrid and Twilio connectors, the official libraries pointed at local fakes."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from connectors.channels.sendgrid import retry_after
from connectors.fakes.sendgrid import SendGridFake
from connectors.fakes.sendgrid import create_app as sendgrid_app
from connectors.fakes.server import FakeServer
from connectors.fakes.twilio import TwilioFake
from connectors.fakes.twilio import create_app as twilio_app
from tests.e2e.server import workspace_server
from tests.helpers import ENGAGE, HI, TEXTS, T

SETTINGS = """\
channels:
  email: {provider: sendgrid}
  sms: {provider: twilio}
sender:
  email: "Shop <hello@shop.example>"
  sms: "+15550100000"
  postal_address: 1 Main St"""


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sendgrid, twilio = SendGridFake(api_key="SG.test"), TwilioFake()
    with FakeServer(sendgrid_app(sendgrid)) as sg_url, FakeServer(twilio_app(twilio)) as tw_url:
        server = workspace_server(tmp_path, settings=SETTINGS, journeys={"engage": ENGAGE, "texts": TEXTS},
                                  templates={"hi.email.html": HI, "t.sms.txt": T})
        server.env = {"SENDGRID_API_KEY": "SG.test", "NUDGE_SENDGRID_BASE_URL": sg_url,
                      "SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid.public_key, "TWILIO_ACCOUNT_SID": twilio.account_sid,
                      "TWILIO_AUTH_TOKEN": twilio.auth_token, "NUDGE_TWILIO_BASE_URL": tw_url,
                      "NUDGE_PUBLIC_URL": server.url}
        server.start()
        try:
            yield {"server": server, "sendgrid": sendgrid, "twilio": twilio}
        finally:
            server.stop()


def message_ids(fake: SendGridFake) -> list[str]:
    return [m.payload["custom_args"]["message_id"] for m in fake.messages]


def test_an_email_goes_through_sendgrid_and_a_signed_open_moves_the_journey(providers: dict[str, Any]) -> None:
    server, fake = providers["server"], providers["sendgrid"]
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "ann@example.com", "first_name": "Ann"}})
    server.wait_for(lambda: len(fake.messages) == 1, what="the first email at SendGrid")
    mail = fake.messages[0]
    assert mail.payload["custom_args"]["journey"] == "engage" and mail.payload["custom_args"]["customer_id"] == "c1"
    assert sorted(mail.payload["categories"]) == ["engage", "first"]
    headers = mail.payload["personalizations"][0].get("headers") or mail.payload.get("headers")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert fake.post_events(fake.events_for(mail, "open"), server.url + "/v1/providers/sendgrid/events").status_code == 200
    server.wait_for(lambda: len(fake.messages) == 2, what="the follow-up after the open")
    assert fake.messages[1].payload["custom_args"]["step"] == "opened_followup"


def test_throttling_and_failures_lose_nothing_and_double_nothing(providers: dict[str, Any]) -> None:
    server, fake = providers["server"], providers["sendgrid"]
    fake.faults.rate_limit(times=3, seconds=1)
    fake.faults.error(times=2, status=500)
    for n in range(10):
        server.post({"type": "signed_up", "customer_id": f"c{n}", "traits": {"email": f"c{n}@example.com"}})
    server.wait_for(lambda: len(fake.messages) >= 10, timeout=60, what="all ten emails")
    server.wait_for(lambda: server.health()["messages"] == {"sent": 10}, what="the outbox settled")
    assert Counter(message_ids(fake)).most_common(1)[0][1] == 1 and len(fake.messages) == 10
    conn = sqlite3.connect(server.db)
    assert conn.execute("SELECT MAX(attempts) FROM outbox").fetchone()[0] > 1  # retried, not lost


def test_a_hard_bounce_from_sendgrid_suppresses_the_address(providers: dict[str, Any]) -> None:
    server, fake = providers["server"], providers["sendgrid"]
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "gone@example.com"}})
    server.wait_for(lambda: len(fake.messages) == 1, what="the email")
    fake.post_events(fake.events_for(fake.messages[0], "bounce", type="bounce", reason="550 5.1.1 unknown user"),
                     server.url + "/v1/providers/sendgrid/events")
    server.post({"type": "signed_up", "customer_id": "c2", "traits": {"email": "gone@example.com"}})
    conn = sqlite3.connect(server.db)

    def c2() -> list[tuple[str, str]]:
        rows = [json.loads(b) for (b,) in conn.execute("SELECT body FROM records WHERE type = 'send'")]
        return [(r["status"], r["reason"]) for r in rows if r["customer_id"] == "c2"]

    server.wait_for(lambda: bool(c2()), what="c2's decision")
    assert c2() == [("suppressed", "bounced")] and len(fake.messages) == 1


def test_a_text_goes_through_twilio_and_a_stop_reply_stops_the_next(providers: dict[str, Any]) -> None:
    server, fake = providers["server"], providers["twilio"]
    server.post({"type": "ping", "customer_id": "c9", "traits": {"phone": "+15550000009", "sms_subscribed": True}})
    server.wait_for(lambda: len(fake.messages) == 1, what="the text at Twilio")
    text = fake.messages[0]
    assert text.params["Body"] == "Back in stock. Reply STOP to opt out."
    assert text.params["StatusCallback"] == server.url + "/v1/providers/twilio/status"
    assert fake.status_callback(text, "delivered").post().status_code == 204
    assert fake.inbound(server.url + "/v1/providers/twilio/inbound", "+15550000009", "+15550100000", "STOP").post().status_code == 200
    server.post({"type": "ping", "customer_id": "c9"})
    conn = sqlite3.connect(server.db)
    server.wait_for(lambda: conn.execute("SELECT COUNT(*) FROM records WHERE type = 'send'").fetchone()[0] == 2,
                    what="the second decision")
    last = json.loads(conn.execute("SELECT body FROM records WHERE type = 'send' ORDER BY seq DESC").fetchone()[0])
    assert (last["status"], last["reason"]) == ("suppressed", "unsubscribed") and len(fake.messages) == 1


def test_sendgrid_rate_limit_reset_becomes_a_wait() -> None:
    assert retry_after({"X-RateLimit-Reset": "1030"}, now=1000.0) == 30.0
    assert retry_after({"Retry-After": "5", "X-RateLimit-Reset": "1030"}, now=1000.0) == 5.0
    assert retry_after({}, now=1000.0) is None


def test_a_stop_from_a_customer_whose_old_id_breaks_the_limits_answers_and_harms_no_one(
        providers: dict[str, Any]) -> None:
    """A database from before SPEC §8 may hold an id no event may carry now (here with a '/'):
    Twilio's STOP from that customer's phone is answered, not a 500, and is counted as rejected."""
    server, fake = providers["server"], providers["twilio"]
    server.post({"type": "ping", "customer_id": "c1", "traits": {"phone": "+15550000001", "sms_subscribed": True}})
    server.wait_for(lambda: len(fake.messages) == 1, what="the text at Twilio")
    with sqlite3.connect(server.db) as conn:  # as an older version stored it
        conn.execute("UPDATE customers SET customer_id = 'shop/c1', key = 'shop/c1' WHERE key = 'c1'")
    reply = fake.inbound(server.url + "/v1/providers/twilio/inbound", "+15550000001", "+15550100000", "STOP").post()
    assert reply.status_code == 200
    server.post({"type": "ping", "customer_id": "c2", "traits": {"phone": "+15550000002", "sms_subscribed": True}})
    server.wait_for(lambda: len(fake.messages) == 2, what="the next customer's text")
