"""What validate says about a missing `default` of a chosen-time wait: one message, naming what to add."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import email, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

JOURNEY = """\
id: remind
trigger: {event: signed_up}
steps:
  - wait_until: %s
  - send: email
    template: reminder
"""
TEMPLATES = {"reminder.email.html": email("A reminder")}


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


def test_time_and_days_both_chosen_without_a_default_get_one_message(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"remind": JOURNEY % '{time: "profile.t", days: "profile.d"}'},
                    templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/remind.yaml:4:17: an expression time and days need a 'default' (e.g. default: {time: \"18:00\", "
        "days: [mon]}; its days may be left out: then any day), used when the expressions give no HH:MM or no "
        "weekdays"]


def test_a_default_without_the_time_an_expression_time_needs_says_to_add_the_time(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"remind": JOURNEY % '{time: "profile.t", default: {days: [mon]}}'},
                    templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/remind.yaml:4:46: this 'default' needs a 'time' (e.g. default: {days: [mon], time: \"18:00\"}), "
        "used when the expression gives no HH:MM"]
