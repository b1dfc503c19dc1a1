"""The demo's "Change One Thing" programme (issue #18) replayed from samples/change_one_thing.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.runtimes.jsonl import read_events
from engine.runtimes.simulate import simulate
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "change_one_thing.jsonl"


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    loaded = load_workspace(ROOT)
    assert loaded.warnings == []
    return simulate(loaded.workspace, read_events(SAMPLE)).records


def sent(records: list[dict[str, Any]], customer: str, step: str) -> list[tuple[str, int | None]]:
    return [(r["at"], r.get("iteration")) for r in records
            if r["type"] == "send" and r["customer_id"] == customer and r["step"] == step and r["status"] == "sent"]


def test_reminders_come_at_the_chosen_time_across_the_change_to_summer_time_in_paris(
        records: list[dict[str, Any]]) -> None:
    # 08:30 on Thursdays: 07:30Z in CET, 06:30Z from 29 March (CEST); she completes in week 6
    assert sent(records, "c_ines", "reminder") == [
        ("2026-03-19T07:30:00Z", 1), ("2026-03-26T07:30:00Z", 2), ("2026-04-02T06:30:00Z", 3),
        ("2026-04-09T06:30:00Z", 4), ("2026-04-16T06:30:00Z", 5)]


def test_a_reminder_moved_while_waiting_comes_at_the_new_time(records: list[dict[str, Any]]) -> None:
    # Tuesdays 19:00 New York (23:00Z in EDT); moved to 12:30 on Monday 30 March, before week 4's reminder
    assert sent(records, "c_theo", "reminder") == [
        ("2026-03-10T23:00:00Z", 1), ("2026-03-17T23:00:00Z", 2), ("2026-03-24T23:00:00Z", 3),
        ("2026-03-31T16:30:00Z", 4), ("2026-04-07T16:30:00Z", 5), ("2026-04-14T16:30:00Z", 6),
        ("2026-04-21T16:30:00Z", 7), ("2026-04-28T16:30:00Z", 8)]


def test_reminders_keep_sydney_evenings_across_the_end_of_summer_time_there(records: list[dict[str, Any]]) -> None:
    # Sundays 20:00 Sydney: 09:00Z in AEDT, 10:00Z from 5 April (AEST)
    assert sent(records, "c_wren", "reminder")[1:3] == [("2026-03-29T09:00:00Z", 2), ("2026-04-05T10:00:00Z", 3)]
    assert len(sent(records, "c_wren", "reminder")) == 8


def test_the_weekly_email_counts_the_weeks_and_texts_go_only_to_who_asked(records: list[dict[str, Any]]) -> None:
    weekly = [r for r in records if r["type"] == "send" and r["customer_id"] == "c_theo" and r["step"] == "weekly_email"]
    assert [r["subject"] for r in weekly] == [f"Week {n} of 8: one small step" for n in range(1, 9)]
    assert sent(records, "c_pablo", "reminder") == []
    assert len(sent(records, "c_pablo", "weekly_email")) == 4


def test_progress_gets_encouragement_and_silence_a_nudge(records: list[dict[str, Any]]) -> None:
    assert sent(records, "c_ines", "encouragement") == [("2026-03-17T18:00:00Z", None), ("2026-03-24T18:00:00Z", None)]
    assert sent(records, "c_ines", "nudge") == [("2026-04-03T18:00:00Z", None)]  # ten days after her last note


def test_completing_the_challenge_is_the_goal_and_ends_the_programme(records: list[dict[str, Any]]) -> None:
    ends = {(r["customer_id"], r["reason"]) for r in records if r["type"] == "exited" and r["journey"] == "change_one_thing"}
    assert ends == {("c_ines", "goal"), ("c_pablo", "goal"), ("c_theo", "completed"), ("c_wren", "completed")}
    assert not [r for r in records if r["type"] == "send" and r["status"] != "sent"]
