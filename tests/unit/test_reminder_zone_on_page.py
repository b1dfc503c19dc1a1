"""The preference centre says in which time zone a chosen reminder time is read, and when no text is sent."""

from __future__ import annotations

from pathlib import Path

from connectors.api.pages import view
from connectors.api.pages.render import Pages
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
BASE = {"email": "ann@example.com", "phone": "+15551230000", "sms_reminders": True, "reminder_time": "19:00",
        "reminder_days": ["tue"]}


def render(traits: dict[str, object], pages_root: Path) -> str:
    workspace = load_workspace(ROOT).workspace
    return Pages(pages_root).render("preferences.html", {**view.preferences(workspace, traits, "email"),
                                                         "form_token": "t"})


def test_a_customer_with_a_zone_reads_the_time_as_theirs(tmp_path: Path) -> None:
    for root in (ROOT, tmp_path):  # the demo's pages and the shipped defaults
        html = render({**BASE, "timezone": "America/New_York"}, root)
        assert 'id="reminder_zone">America/New_York time<' in html, root


def test_a_customer_without_a_zone_is_told_the_workspace_zone(tmp_path: Path) -> None:
    for root in (ROOT, tmp_path):
        html = render(BASE, root)
        assert 'id="reminder_zone">UTC time<' in html, root


def test_the_page_says_that_quiet_hours_hold_a_reminder(tmp_path: Path) -> None:
    for root in (ROOT, tmp_path):  # the demo's quiet hours: 21:00 to 08:00
        html = render(BASE, root)
        assert "No texts between 21:00 and 08:00: a reminder due then comes at 08:00." in html, root


def test_the_page_names_are_what_page_templates_see() -> None:
    workspace = load_workspace(ROOT).workspace
    reminders = view.preferences(workspace, {**BASE, "timezone": "Nowhere/Atlantis"}, "email")["reminders"]
    assert (reminders["zone"], reminders["quiet"]) == ("UTC", {"start": "21:00", "end": "08:00"})


def test_days_a_site_wrote_in_full_or_in_capitals_are_ticked_as_the_engine_reads_them() -> None:
    workspace = load_workspace(ROOT).workspace
    page = view.preferences(workspace, {**BASE, "reminder_days": ["Thursday", "SAT"]}, "email")
    assert [d["value"] for d in page["days"] if d["checked"]] == ["thu", "sat"]


def test_a_time_a_site_wrote_as_7_30_shows_as_07_30_which_a_time_field_can_hold() -> None:
    workspace = load_workspace(ROOT).workspace
    assert view.preferences(workspace, {**BASE, "reminder_time": "7:30"}, "email")["reminders"]["time"] == "07:30"
    assert view.preferences(workspace, {**BASE, "reminder_time": "7pm"}, "email")["reminders"]["time"] == ""
