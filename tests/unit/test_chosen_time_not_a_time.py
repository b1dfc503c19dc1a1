"""A chosen time or days that a site sent in a form the engine cannot read are reported, not silently replaced."""

from __future__ import annotations

from engine.testing import Harness, email
from tests.helpers import ANN, event

JOURNEY = """\
id: reminders
trigger: {event: signed_up}
steps:
  - id: chosen
    wait_until: {time: "profile.reminder_time", days: "profile.reminder_days", default: {time: "18:00", days: [wed]}}
  - id: note
    send: email
    template: note
"""
NOTE = {"note.email.html": email("A note")}


def messages(traits: dict[str, object]) -> list[str]:
    h = Harness(journeys={"reminders": JOURNEY}, templates=NOTE)
    h.run([event("signed_up", traits={**ANN, **traits})], until="2026-06-01T00:00:00Z")
    return [d.message for d in h.diagnostics]


def test_a_time_that_is_not_hh_mm_is_reported_with_the_default_used() -> None:
    assert messages({"reminder_time": "7pm", "reminder_days": ["thu"]}) == [
        "'profile.reminder_time' gave '7pm', not a time HH:MM (24-hour): the default 18:00 applies"]


def test_days_that_are_not_weekdays_are_reported_with_the_default_used() -> None:
    assert messages({"reminder_time": "19:00", "reminder_days": ["thursday", "funday"]}) == [
        "'profile.reminder_days' gave ['thursday', 'funday'], not a list of weekdays (mon ... sun): "
        "the default days apply"]


def test_a_missing_choice_is_no_problem_the_default_is_what_it_is_for() -> None:
    assert messages({}) == []
