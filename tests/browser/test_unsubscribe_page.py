"""A person opens an unsubscribe link in a real browser, confirms, and marketing stops."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.testing import email, write_workspace
from tests.e2e.server import NudgeServer

HELLO = "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - id: hi\n    send: email\n    template: hi\n"
PROMO = "id: promo\nreentry: after_exit\ntrigger: {event: promo}\nsteps:\n  - id: offer\n    send: email\n    template: hi\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    root = write_workspace(tmp_path / "ws", settings="sender:\n  email: Shop <hi@shop.example>\n  postal_address: 1 Main St",
                           journeys={"hello": HELLO, "promo": PROMO},
                           templates={"hi.email.html": email("Hi", '<a href="{{ unsubscribe_url }}">Unsubscribe</a>')})
    srv = NudgeServer(root, tmp_path / "nudge.db")
    srv.env = {"NUDGE_PUBLIC_URL": srv.url}
    yield srv.start()
    srv.stop()


def test_unsubscribing_in_a_browser_suppresses_the_next_marketing_email(server: NudgeServer, browser: Any,
                                                                        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "ann@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 1, what="the welcome email")
    link = server.messages()[0]["headers"]["List-Unsubscribe"].strip("<>")
    browser.get(link)
    assert "stop receiving emails from Shop?" in browser.find_element(By.TAG_NAME, "main").text
    browser.save_screenshot(str(tmp_path / "unsubscribe-page.png"))
    browser.find_element(By.ID, "unsubscribe").click()
    done = WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "done"))  # the form's answer page
    assert "You are unsubscribed" in done[0].text
    browser.save_screenshot(str(tmp_path / "unsubscribed.png"))
    server.post({"type": "promo", "customer_id": "c1"})
    conn = sqlite3.connect(server.db)

    def promo() -> list[tuple[str, str]]:
        rows = [json.loads(b) for (b,) in conn.execute("SELECT body FROM records WHERE type = 'send'")]
        return [(r["status"], r["reason"]) for r in rows if r["journey"] == "promo"]

    server.wait_for(lambda: bool(promo()), what="the promo decision")
    assert promo() == [("suppressed", "unsubscribed")]
    assert len(server.messages()) == 1
