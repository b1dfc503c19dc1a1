"""Tracked links and double opt-in over HTTP against a real `nudge run`."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from engine.testing import email, journey_yaml, send_step
from tests.e2e.server import NudgeServer, workspace_server

PROMO = journey_yaml("promo", "{event: promo}", send_step("offer", "offer"), reentry="after_exit")
TEMPLATES = {
    "offer.email.html": email("Sale", '<a href="https://shop.example/sale">Sale</a>'),
    "confirm_subscription.email.html": email("Confirm", '<a href="{{ confirm_url }}">Confirm</a>'),
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, settings="tracking: {links: true}\ndouble_opt_in: {email: true}",
                           journeys={"promo": PROMO}, templates=TEMPLATES)
    srv.env = {"NUDGE_PUBLIC_URL": srv.url}
    yield srv.start()
    srv.stop()


def records(server: NudgeServer, kind: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(server.db)
    return [json.loads(b) for (b,) in conn.execute("SELECT body FROM records WHERE type = ? ORDER BY seq", (kind,))]


def test_confirming_by_link_records_consent_and_then_marketing_flows(server: NudgeServer) -> None:
    server.post({"type": "promo", "customer_id": "c1", "traits": {"email": "ann@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 1, what="the confirmation email")
    [confirmation] = server.messages()
    assert confirmation["journey"] == "double_opt_in"
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/[^\s)\"]+)", confirmation["text"])
    assert link is not None
    assert "Yes, subscribe me" in httpx.get(link[1]).text  # a GET alone confirms nothing
    assert httpx.post(link[1]).status_code == 200
    server.post({"type": "promo", "customer_id": "c1"})
    server.wait_for(lambda: len(server.messages()) == 2, what="the promo email")
    assert [(r["status"], r["reason"]) for r in records(server, "send") if r["journey"] == "promo"] == [
        ("suppressed", "no_consent"), ("sent", None)]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}) as c:
        traits = c.get("/v1/customers/c1").json()["traits"]
    assert traits["email_subscribed"] is True and traits["email_consent_source"] == "double opt-in link"


def test_a_tracked_link_records_the_click_and_redirects_with_utm(server: NudgeServer) -> None:
    server.post({"type": "subscribed", "customer_id": "c2", "traits": {"email": "bo@example.com"},
                 "properties": {"channel": "email", "source": "signup form"}})
    server.post({"type": "promo", "customer_id": "c2"})
    server.wait_for(lambda: any(m["journey"] == "promo" for m in server.messages()), what="the promo")
    promo = next(m for m in server.messages() if m["journey"] == "promo")
    link = re.search(r'href="(http://127\.0\.0\.1:\d+/c/[^"]+)"', str(promo["html"]))
    assert link is not None
    response = httpx.get(link[1])
    assert response.status_code == 302
    assert response.headers["location"] == ("https://shop.example/sale?utm_source=nudge&utm_medium=email"
                                            "&utm_campaign=promo&utm_content=offer")
    conn = sqlite3.connect(server.db)
    server.wait_for(lambda: conn.execute("SELECT COUNT(*) FROM events WHERE CAST(body AS TEXT) LIKE '%email_clicked%'")
                    .fetchone()[0] == 1, what="the click event")
    assert httpx.get(link[1][:-3] + "xyz").status_code == 404
