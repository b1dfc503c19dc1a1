"""The preference centre beside Kafka workers: the page reads the profile the workers keep, and a saved
choice goes through the events topic to the workers like any event."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from engine.links import SignedLinks
from engine.testing import write_workspace
from tests.e2e.pages_kit import form_token
from tests.kafka.test_worker import LINK_SECRET, edge_beside, start_worker

DATA = "data:\n  traits:\n    sms_reminders: boolean\n    reminder_time: string\n    reminder_days: list\n"


def test_reminders_saved_on_the_page_reach_the_workers_profile(kafka_bootstrap: str, tmp_path: Path) -> None:
    workspace = write_workspace(tmp_path / "ws", settings='sender: {email: "Shop <hi@shop.example>"}', extra=DATA)
    app_id = f"p{uuid.uuid4().hex[:8]}"
    worker = start_worker(workspace, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")
    with edge_beside(workspace, tmp_path, kafka_bootstrap, app_id, [worker]) as edge:
        assert edge.post({"type": "identify", "customer_id": "c1", "traits": {
            "email": "ann@example.com", "phone": "+15551234567", "sms_subscribed": True}}).status_code == 202
        with edge.client() as c:
            edge.wait_for(lambda: c.get("/v1/customers/c1").status_code == 200, timeout=90, what="the profile")
            url = SignedLinks(LINK_SECRET.encode(), edge.url).unsubscribe_url("c1", "email")
            page = httpx.get(url)
            assert "a•••@example.com" in page.text and "•••4567" in page.text
            saved = httpx.post(url, data={"action": "save", "form_token": form_token(page.text), "sms_reminders": "on",
                                          "reminder_time": "06:45", "reminder_days": ["sun"]})
            assert saved.status_code == 200
            edge.wait_for(lambda: c.get("/v1/customers/c1").json()["traits"].get("sms_reminders") is True,
                          timeout=90, what="the saved reminders")
            chosen = c.get("/v1/customers/c1").json()["traits"]
        assert (chosen["reminder_time"], chosen["reminder_days"]) == ("06:45", ["sun"])
