"""Provider feedback and unsubscribe links against a real `nudge run` over HTTP."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from engine.testing import email, journey_yaml, send_step
from tests.e2e.pages_kit import form_token
from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import ENGAGE, TEXTS, T

PROMO = journey_yaml("promo", "{event: promo}", send_step("offer", "hi"), topic="promotions", reentry="after_exit")
TOKEN = "twilio-test-token"


@pytest.fixture
def keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode()


@pytest.fixture
def server(tmp_path: Path, keys: tuple[Any, str]) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, settings="topics: [newsletter, promotions]\nsender:\n  postal_address: 1 Main St",
                           journeys={"engage": ENGAGE, "promo": PROMO, "texts": TEXTS},
                           templates={"hi.email.html": email("Hi", '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'),
                                      "t.sms.txt": T})
    srv.env = {"SENDGRID_WEBHOOK_PUBLIC_KEY": keys[1], "TWILIO_AUTH_TOKEN": TOKEN, "NUDGE_PUBLIC_URL": srv.url}
    yield srv.start()
    srv.stop()


def signed(private: ec.EllipticCurvePrivateKey, items: list[dict[str, Any]], at: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(items).encode()
    ts = str(int(at if at is not None else time.time()))
    signature = private.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                  "X-Twilio-Email-Event-Webhook-Timestamp": ts, "Content-Type": "application/json"}


def sends(server: NudgeServer) -> list[dict[str, Any]]:
    conn = sqlite3.connect(server.db)
    return [json.loads(b) for (b,) in conn.execute("SELECT body FROM records WHERE type = 'send' ORDER BY seq")]


def signup(server: NudgeServer, customer: str = "c1", **traits: Any) -> dict[str, Any]:
    assert server.post({"type": "signed_up", "customer_id": customer,
                        "traits": {"email": f"{customer}@example.com", **traits}}).status_code == 202
    server.wait_for(lambda: any(m["customer_id"] == customer for m in server.messages()), what="the first email")
    return next(m for m in server.messages() if m["customer_id"] == customer)


def sg_event(message: dict[str, Any], kind: str, **extra: Any) -> dict[str, Any]:
    return {"email": message["to"], "timestamp": int(time.time()), "event": kind, "sg_event_id": f"sg{time.time_ns()}",
            "sg_message_id": "x.filter", "message_id": message["id"], "customer_id": message["customer_id"],
            "journey": message["journey"], "step": message["step"], **extra}


def test_a_signed_open_moves_a_journey_waiting_for_it(server: NudgeServer, keys: tuple[Any, str]) -> None:
    first = signup(server)
    body, headers = signed(keys[0], [sg_event(first, "open")])
    response = httpx.post(server.url + "/v1/providers/sendgrid/events", content=body, headers=headers)
    assert response.json() == {"accepted": 1, "unattributed": 0, "refused": 0}
    server.wait_for(lambda: any(s["step"] == "opened_followup" for s in sends(server)), what="the follow-up")


def test_a_hard_bounce_suppresses_the_address(server: NudgeServer, keys: tuple[Any, str]) -> None:
    first = signup(server)
    body, headers = signed(keys[0], [sg_event(first, "bounce", type="bounce", reason="550 no such user")])
    assert httpx.post(server.url + "/v1/providers/sendgrid/events", content=body, headers=headers).status_code == 200
    server.post({"type": "promo", "customer_id": "c1"})
    server.wait_for(lambda: any(s["journey"] == "promo" for s in sends(server)), what="the promo decision")
    [promo] = [s for s in sends(server) if s["journey"] == "promo"]
    assert (promo["status"], promo["reason"]) == ("suppressed", "bounced")


@pytest.mark.parametrize("tamper", ["body", "old", "unsigned", "replay"])
def test_a_forged_or_stale_sendgrid_post_is_refused_and_changes_nothing(server: NudgeServer, keys: tuple[Any, str],
                                                                         tamper: str) -> None:
    first = signup(server)
    body, headers = signed(keys[0], [sg_event(first, "spamreport")], at=time.time() - 600 if tamper == "old" else None)
    url = server.url + "/v1/providers/sendgrid/events"
    if tamper == "body":
        body = body.replace(b"spamreport", b"open")
    if tamper == "unsigned":
        headers = {"Content-Type": "application/json"}
    if tamper == "replay":
        assert httpx.post(url, content=body, headers=headers).status_code == 200
    assert httpx.post(url, content=body, headers=headers).status_code == 401
    accepted = server.health()
    assert accepted["events_pending"] >= 0
    conn = sqlite3.connect(server.db)
    kinds = [json.loads(b)["type"] for (b,) in conn.execute("SELECT body FROM events")]
    assert kinds.count("email_complained") == (1 if tamper == "replay" else 0)


def twilio_post(server: NudgeServer, path: str, form: dict[str, str], token: str = TOKEN) -> httpx.Response:
    url = server.url + path
    signature = RequestValidator(token).compute_signature(url, form)
    return httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})


def test_stop_and_start_replies_switch_texts_off_and_on(server: NudgeServer) -> None:
    phone = "+15550000042"
    server.post({"type": "signed_up", "customer_id": "c9", "traits": {"email": "c9@example.com", "phone": phone,
                                                                      "sms_subscribed": True}})
    server.wait_for(lambda: any(s["customer_id"] == "c9" for s in sends(server)), what="the sign-up")
    assert twilio_post(server, "/v1/providers/twilio/inbound", {"From": phone, "Body": "stop ", "MessageSid": "SM1"}).status_code == 200
    server.post({"type": "ping", "customer_id": "c9"})
    server.wait_for(lambda: any(s["journey"] == "texts" for s in sends(server)), what="the first text decision")
    assert twilio_post(server, "/v1/providers/twilio/inbound", {"From": phone, "Body": "START", "MessageSid": "SM2"}).status_code == 200
    server.post({"type": "ping", "customer_id": "c9"})
    server.wait_for(lambda: len([s for s in sends(server) if s["journey"] == "texts"]) == 2, what="the second text")
    texts = [(s["status"], s["reason"]) for s in sends(server) if s["journey"] == "texts"]
    assert texts == [("suppressed", "unsubscribed"), ("sent", None)]


def test_a_twilio_post_with_a_bad_signature_is_refused(server: NudgeServer) -> None:
    response = twilio_post(server, "/v1/providers/twilio/inbound", {"From": "+15550000042", "Body": "STOP"}, token="wrong")
    assert response.status_code == 403


def test_a_delivery_callback_is_attributed_to_its_message(server: NudgeServer) -> None:
    server.post({"type": "ping", "customer_id": "c7", "traits": {"phone": "+15550000007", "sms_subscribed": True}})
    server.wait_for(lambda: any(m["channel"] == "sms" for m in server.messages()), what="the text")
    text = next(m for m in server.messages() if m["channel"] == "sms")
    server.wait_for(lambda: sqlite3.connect(server.db).execute(
        "SELECT status FROM outbox WHERE id = ?", (text["id"],)).fetchone()[0] == "sent", what="the hand-off record")
    form = {"MessageSid": text["id"], "MessageStatus": "delivered"}  # the file connector's provider id is ours
    assert twilio_post(server, "/v1/providers/twilio/status", form).status_code == 204
    conn = sqlite3.connect(server.db)
    server.wait_for(lambda: conn.execute("SELECT COUNT(*) FROM events WHERE CAST(body AS TEXT) LIKE '%sms_delivered%'").fetchone()[0] == 1)
    body = json.loads(conn.execute("SELECT body FROM events WHERE CAST(body AS TEXT) LIKE '%sms_delivered%'").fetchone()[0])
    assert body["properties"]["message_id"] == text["id"] and body["customer_id"] == "c7"


def unsubscribe_url(message: dict[str, Any]) -> str:
    return message["headers"]["List-Unsubscribe"].strip("<>")


def test_one_click_unsubscribe_suppresses_the_next_marketing_email(server: NudgeServer) -> None:
    url = unsubscribe_url(signup(server))
    assert "Unsubscribe from all" in httpx.get(url).text
    response = httpx.post(url, content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    server.post({"type": "promo", "customer_id": "c1"})
    server.wait_for(lambda: any(s["journey"] == "promo" for s in sends(server)), what="the promo decision")
    assert [(s["status"], s["reason"]) for s in sends(server) if s["journey"] == "promo"] == [("suppressed", "unsubscribed")]


def test_a_forged_unsubscribe_token_is_refused_and_changes_nothing(server: NudgeServer) -> None:
    url = unsubscribe_url(signup(server))
    payload, mac = url.rsplit("/", 1)[1].split(".")
    other = base64.urlsafe_b64encode(b"c2\x1femail").rstrip(b"=").decode()
    forged = url.rsplit("/", 1)[0] + f"/{other}.{mac}"
    assert httpx.get(forged).status_code == 403
    assert httpx.post(forged, content=b"List-Unsubscribe=One-Click").status_code == 403
    conn = sqlite3.connect(server.db)
    assert conn.execute("SELECT COUNT(*) FROM events WHERE CAST(body AS TEXT) LIKE '%unsubscribed%'").fetchone()[0] == 0


def test_the_preferences_page_lets_a_customer_leave_one_topic(server: NudgeServer) -> None:
    url = unsubscribe_url(signup(server))
    page = httpx.get(url).text
    assert 'value="promotions"' in page and 'value="newsletter"' in page
    assert httpx.post(url, data={"preferences": "1", "keep": "newsletter"}).status_code == 403  # no form token
    saved = httpx.post(url, data={"preferences": "1", "keep": "newsletter", "form_token": form_token(page)})
    assert saved.status_code == 200
    server.post({"type": "promo", "customer_id": "c1"})
    server.wait_for(lambda: any(s["journey"] == "promo" for s in sends(server)), what="the promo decision")
    assert [(s["status"], s["reason"]) for s in sends(server) if s["journey"] == "promo"] == [("suppressed", "unsubscribed")]
