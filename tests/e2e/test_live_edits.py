"""Editing the workspace of a running `nudge run`: valid edits apply, invalid ones are refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.e2e.server import NudgeServer
from tests.helpers import hello_journey


def exits(server: NudgeServer) -> list[str]:
    conn = sqlite3.connect(server.db)
    return [json.loads(b)["reason"] for (b,) in conn.execute("SELECT body FROM records WHERE type = 'exited'")]


def test_saving_an_invalid_journey_keeps_the_last_valid_version_running(server: NudgeServer) -> None:
    journey = server.workspace / "journeys" / "hello.yaml"
    journey.write_text(journey.read_text().replace("template: hi", "tempalte: hi", 1))
    server.wait_for(lambda: "reload refused" in (server.db.parent / "server.log").read_text(), what="the refusal")
    log = (server.db.parent / "server.log").read_text()
    assert "journeys/hello.yaml:6:5: unknown key 'tempalte' (did you mean 'template'?)" in log
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "c1@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 1, what="the greeting from the old version")


def test_saving_a_valid_edit_applies_without_a_restart(server: NudgeServer) -> None:
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "c1@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 2, what="both emails of the old version")
    (server.workspace / "templates" / "hi.email.html").write_text("---\nsubject: Hello again\n---\n<p>New</p>\n")
    server.wait_for(lambda: "reloaded" in (server.db.parent / "server.log").read_text(), what="the reload")
    server.post({"type": "signed_up", "customer_id": "c2", "traits": {"email": "c2@example.com"}})
    server.wait_for(lambda: any(m["customer_id"] == "c2" for m in server.messages()), what="the new greeting")
    assert next(m for m in server.messages() if m["customer_id"] == "c2")["subject"] == "Hello again"


def test_a_customer_waiting_on_a_removed_step_exits_with_step_removed(server: NudgeServer, tmp_path: Path) -> None:
    journey = server.workspace / "journeys" / "hello.yaml"
    journey.write_text(journey.read_text().replace("wait: 1s", "wait: 1h"))
    server.wait_for(lambda: "reloaded" in (server.db.parent / "server.log").read_text(), what="the first reload")
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "c1@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 1, what="the greeting")
    journey.write_text(hello_journey(wait=None))  # the 1h wait the customer stands in is gone
    server.wait_for(lambda: "step_removed" in exits(server), what="the step_removed exit")
