"""Reminders a site turned on without SMS consent are not shown as working: the page asks for the consent."""

from __future__ import annotations

from pathlib import Path

from connectors.api.pages import view
from connectors.api.pages.render import Pages
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
ON = {"email": "zoe@example.com", "phone": "+15551239999", "sms_reminders": True, "reminder_time": "18:00",
      "reminder_days": ["tue"]}


def page(traits: dict[str, object]) -> str:
    workspace = load_workspace(ROOT).workspace  # the demo: consent.sms is opt_in
    return Pages(ROOT).render("preferences.html", {**view.preferences(workspace, traits, "email"), "form_token": "t"})


def test_reminders_on_without_consent_say_they_wait_for_it() -> None:
    html = page(ON)
    assert 'id="needs_consent"' in html
    assert "Your reminders are not sent yet: save, and confirm with the link we text you." in html


def test_reminders_on_with_consent_say_nothing_more() -> None:
    assert 'id="needs_consent"' not in page({**ON, "sms_subscribed": True})
    assert 'id="needs_consent"' not in page({**ON, "sms_reminders": False})
