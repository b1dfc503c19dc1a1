"""Editing the workspace of a `nudge run --watch` (development): valid edits apply as saved, invalid ones
are refused, and one that would exit customers is held until `nudge apply --yes`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    """`hello` with a 1 s wait between its two emails, its files watched."""
    srv = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI})
    srv.command = ("run", "--watch")
    yield srv.start()
    srv.stop()


def exits(server: NudgeServer) -> list[str]:
    conn = sqlite3.connect(server.db)
    return [json.loads(b)["reason"] for (b,) in conn.execute("SELECT body FROM records WHERE type = 'exited'")]


def log(server: NudgeServer) -> str:
    return (server.db.parent / "server.log").read_text()


def test_saving_an_invalid_journey_keeps_the_last_valid_version_running(server: NudgeServer) -> None:
    journey = server.workspace / "journeys" / "hello.yaml"
    journey.write_text(journey.read_text().replace("template: hi", "tempalte: hi", 1))
    server.wait_for(lambda: "edit refused" in log(server), what="the refusal")
    assert "journeys/hello.yaml:6:5: unknown key 'tempalte' (did you mean 'template'?)" in log(server)
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "c1@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 1, what="the greeting from the old version")


def test_saving_a_valid_edit_applies_without_a_restart(server: NudgeServer) -> None:
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "c1@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 2, what="both emails of the old version")
    (server.workspace / "templates" / "hi.email.html").write_text("---\nsubject: Hello again\n---\n<p>New</p>\n")
    server.wait_for(lambda: "applied version" in log(server), what="the edit applied")
    server.post({"type": "signed_up", "customer_id": "c2", "traits": {"email": "c2@example.com"}})
    server.wait_for(lambda: any(m["customer_id"] == "c2" for m in server.messages()), what="the new greeting")
    assert next(m for m in server.messages() if m["customer_id"] == "c2")["subject"] == "Hello again"


def test_an_edit_removing_the_step_a_customer_waits_on_is_held_until_confirmed(server: NudgeServer) -> None:
    journey = server.workspace / "journeys" / "hello.yaml"
    journey.write_text(journey.read_text().replace("wait: 1s", "wait: 1h"))
    server.wait_for(lambda: "applied version" in log(server), what="the first edit applied")
    server.post({"type": "signed_up", "customer_id": "c1", "traits": {"email": "c1@example.com"}})
    server.wait_for(lambda: len(server.messages()) == 1, what="the greeting")
    server.wait_for(lambda: server.query("SELECT COUNT(*) FROM customers WHERE active > 0") == [(1,)], what="c1 waiting")
    journey.write_text(hello_journey(wait=None))  # the 1h wait the customer stands in is gone
    server.wait_for(lambda: "held: it would exit 1 customer(s)" in log(server), what="the edit held")
    assert exits(server) == []
    with server.client() as c:
        assert c.post("/v1/workspace/apply", json={"confirm": True}).json()["outcome"] == "applied"
    assert exits(server) == ["step_removed"]
