"""Every marketing email carries the unsubscribe link and the postal address (SPEC §5): a template
that shows neither, as one written without the layout, gets them as a footer."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from engine.testing import Harness, email, write_workspace

T0 = "2026-03-02T10:00:00Z"
POSTAL = 'sender: {postal_address: "1 Main St, Springfield & Co"}'


def journey(transactional: bool = False) -> str:
    return ("id: j\ntrigger: {event: go}\nsteps:\n  - send: email\n    template: t\n"
            + ("    transactional: true\n" if transactional else ""))


def sent(templates: dict[str, str], settings: str = POSTAL, transactional: bool = False) -> str:
    h = Harness(settings=settings, journeys={"j": journey(transactional)}, templates=templates)
    h.run([{"type": "go", "customer_id": "c1", "timestamp": T0, "traits": {"email": "ann@example.com"}}])
    [record] = h.of("send")
    assert record["status"] == "sent"
    return str(record["text"])


def test_a_marketing_email_without_the_footer_gets_the_link_and_the_address() -> None:
    text = sent({"t.email.html": email("Offer", "<p>Use code WELCOME10.</p>")})
    assert text.startswith("Use code WELCOME10.\n\n1 Main St, Springfield & Co\nUnsubscribe (https://nudge.invalid/u/")


def test_a_template_that_shows_both_is_left_as_written() -> None:
    body = '<p>Offer</p><p>{{ settings.sender.postal_address }} <a href="{{ unsubscribe_url }}">Leave</a></p>'
    text = sent({"t.email.html": email("Offer", body)})
    assert text.count("Springfield") == 1 and "Unsubscribe" not in text and "Leave" in text


def test_a_written_plain_text_part_gets_the_footer_too() -> None:
    template = "---\nsubject: Offer\ntext: \"Use code X\"\n---\n<p>Use code X</p>\n"
    text = sent({"t.email.html": template})
    assert text.startswith("Use code X\n\n1 Main St, Springfield & Co\nUnsubscribe: https://nudge.invalid/u/")


def test_a_transactional_email_gets_no_footer() -> None:
    text = sent({"t.email.html": email("Receipt", "<p>Thanks</p>")}, transactional=True)
    assert text == "Thanks"


def test_validate_warns_when_no_postal_address_is_set_for_marketing_email(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"j": journey()}, templates={"t.email.html": email("Offer")})
    result = CliRunner().invoke(app, ["validate", "--workspace", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert ("journeys.yaml: warning: journey 'j' step '0' sends marketing email, which must show the sender's "
            "postal address: set settings.sender.postal_address") in result.output
    assert "ok: 1 journey, 0 broadcasts, 0 segments, 1 warning" in result.output
