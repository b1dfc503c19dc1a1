"""`nudge preview` shows a template as a customer of the journey that sends it would get it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.testing import email, write_workspace

CART = """\
id: cart
trigger: {event: cart_updated}
steps:
  - split:
      name: tone
      variants:
        - {name: soft, weight: 1, steps: [{send: sms, template: nudge}]}
        - {name: bold, weight: 1, steps: [{send: email, template: reminder}]}
"""
TEMPLATES = {
    "nudge.sms.txt": "Hi {{ profile.first_name }}, your cart of ${{ trigger_event.properties.cart_total }} is saved. "
                     "It stays here for a week, then we let it go. Reply STOP to opt out.",
    "reminder.email.html": email("{{ journey.variant.tone | default('none') }}: {{ trigger_event.properties.cart_total }}"),
    "reminder.fr.email.html": email("Votre panier: {{ trigger_event.properties.cart_total }}"),
}
EVENTS = [
    {"type": "page_viewed", "customer_id": "c1", "timestamp": "2026-03-01T10:00:00Z", "traits": {"first_name": "Ann"}},
    {"type": "cart_updated", "customer_id": "c1", "timestamp": "2026-03-01T11:00:00Z", "properties": {"cart_total": 96}},
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = write_workspace(tmp_path / "ws", settings='sender: {postal_address: "1 Main St"}',
                           journeys={"cart": CART}, templates=TEMPLATES)
    (root / "samples").mkdir()
    (root / "samples" / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    return root


def preview(workspace: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["preview", *args, "--workspace", str(workspace)], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    return result.output


def test_a_template_is_found_by_name_whatever_its_channel(workspace: Path) -> None:
    assert "SMS:" in preview(workspace, "nudge")


def test_it_renders_with_the_sample_event_of_the_journeys_trigger_and_that_customer(workspace: Path) -> None:
    assert "Hi Ann, your cart of $96 is saved." in preview(workspace, "nudge")


def test_an_sms_is_shown_as_sent_without_wrapping(workspace: Path) -> None:
    output = preview(workspace, "nudge")
    assert ("Hi Ann, your cart of $96 is saved. It stays here for a week, then we let it go. "
            "Reply STOP to opt out.\n") in output


def test_variant_and_locale_choose_what_is_rendered(workspace: Path) -> None:
    assert "Subject: bold: 96" in preview(workspace, "reminder", "--variant", "bold")
    assert "Subject: Votre panier: 96" in preview(workspace, "reminder", "--locale", "fr")


def test_the_html_is_written_outside_the_workspace_and_its_path_printed(workspace: Path) -> None:
    output = preview(workspace, "reminder")
    path = Path(output.split("HTML written to ")[1].split()[0])
    assert path.is_file() and workspace not in path.parents
    assert not list(workspace.glob("preview-*"))


def test_without_samples_the_event_is_made_up_from_the_declared_data(tmp_path: Path) -> None:
    data = "data:\n  events:\n    cart_updated:\n      properties: {cart_total: number}\n"
    root = write_workspace(tmp_path / "ws", settings='sender: {postal_address: "1 Main St"}',
                           journeys={"cart": CART}, templates=TEMPLATES, extra=data)
    assert "Subject: none: 42.5" in preview(root, "reminder")


def test_a_template_sent_inside_a_repeat_previews_as_its_first_pass_or_the_one_asked(tmp_path: Path) -> None:
    weekly = ("id: weekly\ntrigger: {event: cart_updated}\nsteps:\n  - repeat: {times: 8}\n    steps:\n"
              "      - wait: 7d\n      - {send: email, template: week}\n")
    root = write_workspace(tmp_path / "ws", settings='sender: {postal_address: "1 Main St"}',
                           journeys={"weekly": weekly}, templates={"week.email.html": email("Week {{ journey.iteration }}")})
    assert "Subject: Week 1" in preview(root, "week")
    assert "Subject: Week 5" in preview(root, "week", "--iteration", "5")
