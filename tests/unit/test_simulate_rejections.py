"""`nudge simulate` writes a `rejected` record for each event line it refuses (SPEC §8) and goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.runtimes.jsonl import InputError, read_event_lines, read_events, read_profiles
from engine.runtimes.simulate import simulate
from engine.testing import email, write_workspace
from rules.workspace import load_workspace
from tests.helpers import hello_journey

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {"hi.email.html": email("Hi")}
GOOD = {"type": "signed_up", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z", "traits": {"email": "ann@example.com"}}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", journeys={"hello": hello_journey("1d")}, templates=TEMPLATES)


def jsonl(path: Path, *rows: dict[str, Any] | str) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def run(workspace: Path, events: Path) -> list[dict[str, Any]]:
    accepted, refused = read_event_lines(events)
    return simulate(load_workspace(workspace).workspace, accepted, rejected=refused).records


def nudge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_each_refused_line_is_a_rejected_record_and_the_others_still_run(workspace: Path, tmp_path: Path) -> None:
    events = jsonl(tmp_path / "e.jsonl",
                   {**GOOD, "customer_id": "anon:zzz"},
                   "{not json",
                   {**GOOD, "traits": {"points": 18446744073709551615}},
                   {**GOOD, "timestamp": "2099-01-01T00:00:00Z", "customer_id": "a/b"},
                   GOOD)
    records = run(workspace, events)
    rejected = [r for r in records if r["type"] == "rejected"]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejected] == [
        (1, "customer_id"), (2, "invalid JSON"), (3, "traits.points"), (4, "customer_id")]
    assert set(rejected[0]) == {"at", "type", "line", "reason"}
    assert [r["step"] for r in records if r["type"] == "send"] == ["greet", "later"]


def test_a_rejected_record_is_at_the_lines_time_else_the_nearest_line_above_else_below(workspace: Path, tmp_path: Path) -> None:
    events = jsonl(tmp_path / "e.jsonl",
                   "[1, 2",                                                   # nothing above: the first time below
                   {"type": "x", "timestamp": "2026-03-01T08:00:00Z"},        # its own time (no customer)
                   GOOD,
                   {"type": "x", "customer_id": "c2", "timestamp": "soon"},   # the nearest valid time above
                   {**GOOD, "customer_id": "c3", "timestamp": "2026-03-05T00:00:00Z", "traits": {"email": "@"}})
    at = {r["line"]: r["at"] for r in run(workspace, events) if r["type"] == "rejected"}
    assert at == {1: "2026-03-01T08:00:00Z", 2: "2026-03-01T08:00:00Z", 4: "2026-03-02T10:00:00Z", 5: "2026-03-05T00:00:00Z"}


def test_a_file_without_any_valid_time_places_its_rejections_at_the_epoch(workspace: Path, tmp_path: Path) -> None:
    records = run(workspace, jsonl(tmp_path / "e.jsonl", "{", "nope"))
    assert records == [{"at": "1970-01-01T00:00:00Z", "type": "rejected", "line": 1, "reason": records[0]["reason"]},
                       {"at": "1970-01-01T00:00:00Z", "type": "rejected", "line": 2, "reason": records[1]["reason"]}]


def test_rejected_records_keep_the_output_ordered_by_time(workspace: Path, tmp_path: Path) -> None:
    # `hello` sends at 10:00 on day 1 and, after its 1d wait, at 10:00 on day 2; the refusals fall around them
    events = jsonl(tmp_path / "e.jsonl",
                   {**GOOD, "customer_id": "anon:late", "timestamp": "2026-03-03T10:00:00Z"},
                   {**GOOD, "customer_id": "anon:mid", "timestamp": "2026-03-02T18:00:00Z"},
                   GOOD,
                   {**GOOD, "customer_id": "anon:past", "timestamp": "2026-02-01T00:00:00Z"},
                   {**GOOD, "customer_id": "anon:end", "timestamp": "2027-01-01T00:00:00Z"})
    records = run(workspace, events)
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)
    kinds = [r["line"] if r["type"] == "rejected" else r["step"] if r["type"] == "send" else r["type"] for r in records]
    assert kinds == [4, "entered", "greet", 2, 1, "later", "exited", 5]


def test_simulate_cli_is_byte_identical_with_rejections_and_strict_stops_at_the_first(workspace: Path, tmp_path: Path) -> None:
    events = jsonl(tmp_path / "e.jsonl", GOOD, {**GOOD, "traits": {"timezone": "Mars/Olympus"}}, "{", GOOD)
    outs = [nudge("simulate", "-w", str(workspace), "--events", str(events)) for _ in range(2)]
    assert outs[0].returncode == 0, outs[0].stderr
    assert outs[0].stdout == outs[1].stdout
    assert "2 event line(s) refused" in outs[0].stderr
    rejected = [json.loads(x) for x in outs[0].stdout.splitlines() if '"rejected"' in x]
    assert [r["line"] for r in rejected] == [2, 3] and rejected[0]["reason"].startswith("traits.timezone: unknown time zone")
    strict = nudge("simulate", "-w", str(workspace), "--events", str(events), "--strict")
    assert strict.returncode == 1 and strict.stdout == ""
    assert f"{events}:2: traits.timezone: unknown time zone 'Mars/Olympus'" in strict.stderr


def test_profiles_are_held_to_the_same_limits(tmp_path: Path) -> None:
    profiles = jsonl(tmp_path / "p.jsonl", {"customer_id": "c1", "traits": {"email": " ann@example.com "}},
                     {"customer_id": "anon:zzz", "traits": {}}, {"customer_id": "c3", "traits": {"email": "a@b.c, d@e.f"}})
    with pytest.raises(InputError) as caught:
        read_profiles(profiles)
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in caught.value.problems] == ["2", "3"]
    assert read_profiles(jsonl(tmp_path / "ok.jsonl", {"customer_id": "c1", "traits": {"email": " ann@example.com "}})) == [
        ("c1", {"email": "ann@example.com"})]


def test_the_future_limit_applies_only_to_lines_that_carry_received_at(tmp_path: Path) -> None:
    events = jsonl(tmp_path / "e.jsonl",
                   {**GOOD, "timestamp": "2026-03-02T10:05:01Z", "received_at": "2026-03-02T10:00:00Z"},
                   {**GOOD, "customer_id": "c2", "timestamp": "2026-03-02T10:05:00Z", "received_at": "2026-03-02T10:00:00Z"},
                   {**GOOD, "customer_id": "c3", "timestamp": "2099-01-01T00:00:00Z"})
    accepted, refused = read_event_lines(events)
    assert [e.customer_id for e in accepted] == ["c2", "c3"]
    assert [(r.line, r.reason.split(":")[0], r.at.isoformat()) for r in refused] == [
        (1, "timestamp", "2026-03-02T10:00:00+00:00")]  # placed at its journey time, received_at
    assert "future_skew (5m)" in refused[0].reason
    assert read_event_lines(events, timedelta(minutes=10))[1] == []


def test_read_events_still_refuses_a_file_with_a_bad_line_as_a_whole(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"e.jsonl:2: customer_id: starts with 'anon:'"):
        read_events(jsonl(tmp_path / "e.jsonl", GOOD, {**GOOD, "customer_id": "anon:zzz"}))
