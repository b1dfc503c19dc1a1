"""The `nudge` command line, run as a marketer runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.testing import email, send_step, write_workspace
from tests.helpers import hello_journey

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
NUDGE = [sys.executable, "-m", "engine"]

JOURNEY = hello_journey("1d", then=send_step("text", "ping", "sms"))
TEMPLATES = {
    "hi.email.html": email("Hi {{ profile.first_name | default('there') }}", "<h1>Welcome</h1><p>Glad you came.</p>"),
    "ping.sms.txt": "  Hi {{ profile.first_name }}, reply STOP to opt out.  \n",
}


def nudge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NUDGE, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=120)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = write_workspace(tmp_path / "ws", journeys={"hello": JOURNEY}, templates=TEMPLATES)
    events = [
        {"id": "e1", "type": "signed_up", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z",
         "traits": {"email": "ann@example.com", "first_name": "Ann", "phone": "+15550000001", "sms_subscribed": True}},
        {"id": "e2", "type": "signed_up", "customer_id": "c2", "timestamp": "2026-03-02T09:00:00+01:00",
         "traits": {"email": "bob@example.com"}},
    ]
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return root


def test_validate_says_ok_for_a_good_workspace(workspace: Path) -> None:
    result = nudge("validate", "--workspace", str(workspace))
    assert result.returncode == 0, result.stderr
    assert "ok: 1 journey," in result.stderr


def test_validate_exits_1_and_lists_every_error(workspace: Path) -> None:
    (workspace / "journeys" / "hello.yaml").write_text(JOURNEY.replace("wait: 1d", "wait: 1 day").replace("template: ping", "tempalte: ping"))
    result = nudge("validate", "--workspace", str(workspace))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "journeys/hello.yaml:7:11: '1 day' is not a duration: use digits and units s, m, h, d, w, e.g. 30m, 1d12h" in lines
    assert "journeys/hello.yaml:10:5: unknown key 'tempalte' (did you mean 'template'?)" in lines
    assert lines[-1] == "2 error(s): nothing was run."


def test_simulate_writes_spec_records_in_time_order(workspace: Path) -> None:
    result = nudge("simulate", "--workspace", str(workspace), "--events", str(workspace / "events.jsonl"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    sends = [(r["at"], r["customer_id"], r["step"], r["status"], r.get("reason")) for r in records if r["type"] == "send"]
    assert sends == [
        ("2026-03-02T08:00:00Z", "c2", "greet", "sent", None),
        ("2026-03-02T10:00:00Z", "c1", "greet", "sent", None),
        ("2026-03-03T08:00:00Z", "c2", "text", "suppressed", "no_address"),
        ("2026-03-03T10:00:00Z", "c1", "text", "sent", None),
    ]
    sms = next(r for r in records if r["type"] == "send" and r["status"] == "sent" and r["channel"] == "sms")
    assert sms["text"] == "Hi Ann, reply STOP to opt out."
    assert (sms["segments"], sms["encoding"]) == (1, "GSM-7")
    greet = next(r for r in records if r["type"] == "send" and r["customer_id"] == "c1")
    assert greet["subject"] == "Hi Ann" and "Welcome" in greet["text"]


def test_simulate_output_is_byte_identical_across_runs(workspace: Path, tmp_path: Path) -> None:
    outs = []
    for n in range(2):
        target = tmp_path / f"out{n}.jsonl"
        result = nudge("simulate", "-w", str(workspace), "--events", str(workspace / "events.jsonl"), "--output", str(target))
        assert result.returncode == 0, result.stderr
        outs.append(target.read_bytes())
    assert outs[0] == outs[1] and outs[0]


def test_simulate_until_stops_the_clock(workspace: Path) -> None:
    result = nudge("simulate", "-w", str(workspace), "--events", str(workspace / "events.jsonl"), "--until", "2026-03-02T12:00:00Z")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert max(r["at"] for r in records) <= "2026-03-02T12:00:00Z"
    assert not [r for r in records if r["type"] == "exited"]


def test_simulate_reports_bad_event_lines_by_number(workspace: Path) -> None:
    bad = workspace / "bad.jsonl"
    bad.write_text('{"type": "x", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z"}\n{not json}\n'
                   '{"type": "x", "timestamp": "2026-03-02T10:00:00Z"}\n{"type": "x", "customer_id": "c", "timestamp": "yesterday"}\n')
    result = nudge("simulate", "-w", str(workspace), "--events", str(bad))
    assert result.returncode == 0, result.stderr
    reasons = {r["line"]: r["reason"] for r in map(json.loads, result.stdout.splitlines()) if r["type"] == "rejected"}
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "event: an event needs customer_id or anonymous_id"
    assert reasons[4].startswith("timestamp: 'yesterday' is not RFC 3339")
    strict = nudge("simulate", "-w", str(workspace), "--events", str(bad), "--strict")
    assert strict.returncode == 1 and strict.stdout == ""
    assert f"{bad}:2: invalid JSON" in strict.stderr


def test_preview_prints_subject_and_text_and_writes_html(workspace: Path, tmp_path: Path) -> None:
    html = tmp_path / "out.html"
    result = nudge("preview", "hi", "-w", str(workspace), "--profile", '{"first_name": "Zoë"}', "--html-out", str(html))
    assert result.returncode == 0, result.stderr
    assert "Subject: Hi Zoë" in result.stdout
    assert "Glad you came." in result.stdout
    assert "<h1>Welcome</h1>" in html.read_text()


def test_preview_reports_sms_segments(workspace: Path) -> None:
    result = nudge("preview", "ping", "-w", str(workspace), "--channel", "sms", "--profile", '{"first_name": "Ann"}')
    assert result.returncode == 0, result.stderr
    assert "1 segment(s), GSM-7" in result.stdout


def test_preview_of_an_unknown_template_fails_clearly(workspace: Path) -> None:
    result = nudge("preview", "nope", "-w", str(workspace))
    assert result.returncode == 1
    assert "no template 'nope' in " in result.stderr and "(expected nope.email.html or nope.sms.txt)" in result.stderr


def test_schema_is_a_json_schema_that_knows_the_step_kinds() -> None:
    result = nudge("schema")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["$schema"].startswith("https://json-schema.org/")
    text = result.stdout
    for key in ("wait_for", "wait_until", "split", "transactional", "reentry", "exit_on"):
        assert f'"{key}"' in text
    assert json.loads(nudge("schema", "workspace").stdout)["properties"]["settings"]


def test_the_conformance_suite_passes() -> None:
    check = SHARED / "conformance" / "check.py"
    if not check.exists():
        pytest.skip("../shared/conformance is not beside this checkout")
    result = subprocess.run([sys.executable, str(check), "--nudge", f"{sys.executable} -m engine"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(" 0 failed")
