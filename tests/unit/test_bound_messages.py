"""Validation messages for numbers out of bounds and for a list where a union also takes text."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import email, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

TEMPLATES = {"week.email.html": email("Week")}
JOURNEY = """\
id: weeks
trigger: {event: signed_up}
steps:
  - repeat: %s
    steps:
      - wait_until: %s
      - send: email
        template: week
"""


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("repeat", "message"), [
    ('{until: "true", max: 5000}', "4:34: 'max' is at most 1000: got 5000"),
    ("{times: 0}", "4:21: 'times' is at least 1: got 0"),
])
def test_a_number_out_of_bounds_says_the_bound_and_the_key(tmp_path: Path, repeat: str, message: str) -> None:
    write_workspace(tmp_path, journeys={"weeks": JOURNEY % (repeat, '{time: "09:00"}')}, templates=TEMPLATES)
    assert problems(tmp_path) == [f"journeys/weeks.yaml:{message}"]


def test_a_misspelt_day_in_a_literal_list_gets_one_message_not_a_request_for_quotes(tmp_path: Path) -> None:
    journey = JOURNEY % ("{times: 2}", '{time: "09:00", days: [monday]}')
    write_workspace(tmp_path, journeys={"weeks": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/weeks.yaml:6:44: got 'monday' (did you mean 'mon'?); expected 'mon', 'tue', 'wed', 'thu', "
        "'fri', 'sat' or 'sun'"]
