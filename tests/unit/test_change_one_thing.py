"""The demo's "Change One Thing" programme (issue #18) replayed from samples/change_one_thing.jsonl."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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


def local(records: list[dict[str, Any]], customer: str, zone: str) -> list[str]:
    """The reminders' moments on the customer's own clock, as they read them on their phone."""
    return [datetime.fromisoformat(at).astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")
            for at, _ in sent(records, customer, "reminder")]


def test_a_reminder_on_every_chosen_day_at_the_chosen_time_for_eight_weeks_across_summer_time(
        records: list[dict[str, Any]]) -> None:
    # Ines chose Monday and Thursday 08:30 on Thursday 12 March: eight weeks of both, to Thursday 7 May
    assert local(records, "c_ines", "Europe/Paris") == [
        "Mon 16 Mar 08:30", "Thu 19 Mar 08:30", "Mon 23 Mar 08:30", "Thu 26 Mar 08:30",
        "Mon 30 Mar 08:30", "Thu 02 Apr 08:30", "Mon 06 Apr 08:30", "Thu 09 Apr 08:30",
        "Mon 13 Apr 08:30", "Thu 16 Apr 08:30", "Mon 20 Apr 08:30", "Thu 23 Apr 08:30",
        "Mon 27 Apr 08:30", "Thu 30 Apr 08:30", "Mon 04 May 08:30", "Thu 07 May 08:30"]
    # 07:30Z in CET, 06:30Z from Sunday 29 March (CEST)
    assert sent(records, "c_ines", "reminder")[3:5] == [("2026-03-26T07:30:00Z", 4), ("2026-03-30T06:30:00Z", 5)]


def test_a_reminder_moved_while_waiting_comes_at_the_new_time(records: list[dict[str, Any]]) -> None:
    # Tuesdays 19:00 New York (23:00Z in EDT); moved to 12:30 on Monday 30 March, before week 4's reminder
    assert sent(records, "c_theo", "reminder") == [
        ("2026-03-10T23:00:00Z", 1), ("2026-03-17T23:00:00Z", 2), ("2026-03-24T23:00:00Z", 3),
        ("2026-03-31T16:30:00Z", 4), ("2026-04-07T16:30:00Z", 5), ("2026-04-14T16:30:00Z", 6),
        ("2026-04-21T16:30:00Z", 7), ("2026-04-28T16:30:00Z", 8)]


def test_reminders_keep_sydney_evenings_across_the_end_of_summer_time_and_stop_at_completion(
        records: list[dict[str, Any]]) -> None:
    # Sundays 20:00 Sydney: 09:00Z in AEDT, 10:00Z from 5 April (AEST); she completes on Thursday 16 April
    assert sent(records, "c_wren", "reminder") == [
        ("2026-03-15T09:00:00Z", 1), ("2026-03-22T09:00:00Z", 2), ("2026-03-29T09:00:00Z", 3),
        ("2026-04-05T10:00:00Z", 4), ("2026-04-12T10:00:00Z", 5)]


def test_the_weekly_email_counts_the_weeks_and_texts_go_only_to_who_asked(records: list[dict[str, Any]]) -> None:
    def weekly(customer: str) -> list[tuple[str, str]]:
        return [(r["variant"], r["subject"]) for r in records
                if r["type"] == "send" and r["customer_id"] == customer and r["step"] == "weekly_email"]

    # the subject-line test: a customer keeps one arm (pinned hash of the step id), both arms are sent
    assert weekly("c_ines") == [("weekly_email:A", f"Week {n} of 8: one small step") for n in range(1, 9)]
    assert weekly("c_theo") == [("weekly_email:B", f"Theo, your week {n} step") for n in range(1, 9)]
    assert sent(records, "c_pablo", "reminder") == []
    assert len(sent(records, "c_pablo", "weekly_email")) == 4


def test_progress_gets_encouragement_and_silence_a_nudge(records: list[dict[str, Any]]) -> None:
    assert sent(records, "c_ines", "encouragement") == [("2026-03-17T18:00:00Z", None), ("2026-03-24T18:00:00Z", None)]
    assert sent(records, "c_ines", "nudge") == [("2026-04-03T18:00:00Z", None)]  # ten days after her last note


def test_completing_the_challenge_is_the_goal_and_ends_the_programme(records: list[dict[str, Any]]) -> None:
    ends = {(r["customer_id"], r["reason"]) for r in records if r["type"] == "exited" and r["journey"] == "change_one_thing"}
    assert ends == {("c_ines", "completed"), ("c_pablo", "goal"), ("c_theo", "completed"), ("c_wren", "goal")}
    reminders_end = {(r["customer_id"], r["reason"]) for r in records
                     if r["type"] == "exited" and r["journey"] == "change_one_thing_reminders"}
    # eight weeks from the choice (the first chosen moment after them is not sent), or completion
    assert reminders_end == {("c_ines", "filter"), ("c_theo", "filter"), ("c_wren", "exit_event")}
    assert not [r for r in records if r["type"] == "send" and r["status"] != "sent"]
