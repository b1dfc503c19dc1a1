"""The demo programme's messages point customers at the page where they choose their reminders, and only there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.runtimes.jsonl import read_events
from engine.runtimes.simulate import simulate
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
PAGE = re.compile(r"https://nudge\.invalid/u/[\w.-]+")


@pytest.fixture(scope="module")
def sends() -> list[dict[str, Any]]:
    loaded = load_workspace(ROOT)
    records = simulate(loaded.workspace, read_events(ROOT / "samples" / "change_one_thing.jsonl")).records
    return [r for r in records if r["type"] == "send" and r["status"] == "sent"]


def test_the_welcome_email_offers_text_reminders_through_the_preference_centre(sends: list[dict[str, Any]]) -> None:
    [welcome] = [r for r in sends if r["step"] == "challenge_welcome" and r["customer_id"] == "c_pablo"]
    offer = re.search(r"Choose a time and days for text reminders \((\S+)\)", welcome["text"])
    assert offer is not None and PAGE.fullmatch(offer.group(1))


def test_every_weekly_email_names_the_preferences_behind_its_footer_link(sends: list[dict[str, Any]]) -> None:
    weekly = [r for r in sends if r["step"] == "weekly_email"]
    assert weekly and all(re.search(r"Your preferences: text reminders, or unsubscribe \(https://nudge\.invalid/u/",
                                    r["text"]) for r in weekly)


def test_the_reminder_text_links_nowhere_it_cannot_serve_and_fits_one_segment(sends: list[dict[str, Any]]) -> None:
    reminders = [r for r in sends if r["step"] == "reminder"]
    assert reminders
    for r in reminders:
        assert not re.search(r"\w\.\w+/", r["text"]), r["text"]  # no address: SMS templates get no page link
        assert "link in our emails" in r["text"] and len(r["text"]) <= 160
