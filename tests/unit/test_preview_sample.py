"""`nudge preview --sample FILE` takes its customer from another samples file: the demo programme's emails
preview with a customer of samples/change_one_thing.jsonl, who has chosen a challenge."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[2]


def preview(*args: str) -> str:
    result = CliRunner().invoke(app, ["preview", *args, "--workspace", str(ROOT)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_a_programme_email_previews_with_the_challenge_of_a_customer_from_the_chosen_sample() -> None:
    output = preview("cot_weekly", "--iteration", "5", "--sample", str(ROOT / "samples" / "change_one_thing.jsonl"))
    assert "Week 5: a plastic-free kitchen" in output
    assert "customer c_pablo" in output


def test_without_it_the_shop_samples_have_no_challenge_chosen() -> None:
    assert "Week 5: your one thing" in preview("cot_weekly", "--iteration", "5")


def test_a_sample_file_that_is_not_there_is_refused() -> None:
    result = CliRunner().invoke(app, ["preview", "cot_weekly", "--sample", str(ROOT / "samples" / "nope.jsonl"),
                                      "--workspace", str(ROOT)])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output


def test_the_sample_customer_is_one_the_journey_would_take() -> None:
    # the first challenge_chosen is Pablo's, who has no phone: the reminders journey's audience leaves him out
    output = preview("cot_reminder", "--sample", str(ROOT / "samples" / "change_one_thing.jsonl"))
    assert "customer c_theo" in output
    assert "today's one thing, wash cool" in output
