"""`nudge import profiles`: a customer base streamed in through ingestion, bad rows named by file:line,
refused beside a running server, applied by the next `nudge run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.runtimes.startup import EX_TEMPFAIL
from tests.e2e.server import ROOT, workspace_server
from tests.helpers import hello_journey, HI

CSV = """customer_id,email,first_name,email_subscribed,plan
c1,ann@example.com,Ann,true,gold
c2,not-an-email,Bob,,silver
,nobody@example.com,,,
c4,dee@example.com,"Dee
Ann",false,
"""


def nudge_import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "import", "profiles", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_csv_goes_in_with_its_bad_rows_named_and_the_next_run_applies_it(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI})
    (tmp_path / "base.csv").write_text(CSV)
    done = nudge_import(str(tmp_path / "base.csv"), "--db", str(server.db))
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[:2] == [
        "base.csv:3: traits.email: 'not-an-email' is not one address like ann@example.com (no display name, no comma, "
        "no quotes)", "base.csv:4: customer_id: missing (the --id-column naming each customer is 'customer_id')"]
    assert "2 profile(s) imported, 0 unchanged (imported before), 2 rejected" in " ".join(done.stderr.split())

    again = nudge_import(str(tmp_path / "base.csv"), "--db", str(server.db))
    assert "0 profile(s) imported, 2 unchanged" in " ".join(again.stderr.split())

    server.start()
    try:
        server.wait_for(lambda: server.health()["events_pending"] == 0, what="the import applied")
        with server.client() as c:
            ann = c.get("/v1/customers/c1").json()
            dee = c.get("/v1/customers/c4").json()
        assert ann["traits"] == {"email": "ann@example.com", "first_name": "Ann", "email_subscribed": True, "plan": "gold"}
        assert dee["traits"]["first_name"] == "Dee\nAnn" and dee["traits"]["email_subscribed"] is False
        assert server.messages() == []  # no journey starts on profile_imported unless one asks for it

        refused = nudge_import(str(tmp_path / "base.csv"), "--db", str(server.db))
        assert refused.returncode == EX_TEMPFAIL and "in use by nudge run" in refused.stderr
    finally:
        server.stop()


def test_jsonl_takes_flat_objects_by_another_id_column_and_simulate_profile_lines(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "n.db"
    (tmp_path / "flat.jsonl").write_text('{"id": "u1", "email": "u1@example.com", "vip": true}\nnot json\n')
    done = nudge_import(str(tmp_path / "flat.jsonl"), "--db", str(db), "--id-column", "id")
    assert done.stderr.splitlines()[0].startswith("flat.jsonl:2: line: invalid JSON")
    (tmp_path / "profiles.jsonl").write_text('{"customer_id": "u2", "traits": {"email": "u2@example.com"}}\n')
    assert nudge_import(str(tmp_path / "profiles.jsonl"), "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT customer, json_extract(body, '$.traits') FROM events ORDER BY seq").fetchall()
    assert rows == [("u1", '{"email":"u1@example.com","vip":true}'), ("u2", '{"email":"u2@example.com"}')]


DECLARED = """\
data:
  strict: {strict}
  traits:
    plan: {{enum: [free, pro, team]}}
    lifetime_value: number
  events:
    signed_up: {{}}
"""
PLANS = "customer_id,email,plan,lifetime_value\nd1,d1@example.com,pro,12.5\nd2,d2@example.com,gold,7\n"


def test_over_http_to_a_running_server_rows_go_in_and_its_refusals_are_named_by_line(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI},
                              extra=DECLARED.format(strict="true")).start()
    try:
        (tmp_path / "base.csv").write_text(PLANS + "d3,not-an-email,free,1\n")
        done = nudge_import(str(tmp_path / "base.csv"), "--url", server.url, "--key", server.api_key,
                            "--workspace", str(server.workspace))
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines()[:2] == [
            "base.csv:3: traits.plan: expected one of 'free', 'pro', 'team', got 'gold' (data.strict: true)",
            "base.csv:4: traits.email: 'not-an-email' is not one address like ann@example.com (no display name, "
            "no comma, no quotes)"]
        assert "1 profile(s) imported, 0 unchanged (imported before), 2 rejected" in " ".join(done.stderr.split())
        server.wait_for(lambda: server.health()["events_pending"] == 0, what="the import processed")
        with server.client() as c:
            assert c.get("/v1/customers/d1").json()["traits"] == {"email": "d1@example.com", "plan": "pro",
                                                                   "lifetime_value": 12.5}
        # the server judges too (a file checked against no workspace): its refusals come back by line
        (tmp_path / "base.jsonl").write_text('{"customer_id": "d1", "email": "d1@example.com", "plan": "pro", '
                                             '"lifetime_value": 12.5}\n{"customer_id": "d2", "plan": "gold"}\n')
        unchecked = nudge_import(str(tmp_path / "base.jsonl"), "--url", server.url, "--key", server.api_key,
                                 "--workspace", str(tmp_path / "nowhere"))
        assert unchecked.stderr.splitlines()[1] == ("base.jsonl:2: traits.plan: expected one of 'free', 'pro', "
                                                    "'team', got 'gold' (data.strict: true)")  # after the note
        assert "0 profile(s) imported, 1 unchanged" in " ".join(unchecked.stderr.split())
        wrong = nudge_import(str(tmp_path / "base.csv"), "--url", server.url, "--key", "not-the-key")
        assert wrong.returncode == 77 and "invalid API key" in wrong.stderr  # EX_NOPERM
    finally:
        server.stop()


def test_rows_that_do_not_match_data_are_imported_with_a_warning_when_data_is_not_strict(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI},
                              extra=DECLARED.format(strict="false"))
    (tmp_path / "base.csv").write_text(PLANS)
    done = nudge_import(str(tmp_path / "base.csv"), "--db", str(server.db), "--workspace", str(server.workspace))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == "base.csv:3: warning: traits.plan: expected one of 'free', 'pro', 'team', got 'gold'"
    assert "2 profile(s) imported, 0 unchanged (imported before), 0 rejected, 1 not matching data:" in " ".join(
        done.stderr.split())
