"""A template that prints `journey.iteration` sent from outside any repeat fails every send: validate says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

TEMPLATES = {"week.sms.txt": "Week {{ journey.iteration }} of 8",
             "safe.sms.txt": "Week {{ journey.iteration | default(1) }}"}
OUTSIDE = """\
id: texts
trigger: {event: signed_up}
steps:
  - wait: 1d
  - send: sms
    template: %s
"""
INSIDE = """\
id: texts
trigger: {event: signed_up}
steps:
  - repeat: {times: 2}
    steps:
      - wait: 1d
      - send: sms
        template: week
"""


def test_printing_the_iteration_outside_a_repeat_is_an_error_at_the_send(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"texts": OUTSIDE % "week"}, templates=TEMPLATES)
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        "journeys/texts.yaml:6:15: template 'week' prints journey.iteration, which is undefined outside a "
        "repeat: every send of this step would fail; write {{ journey.iteration | default(1) }}, or send it "
        "from inside a repeat"]


def test_inside_a_repeat_or_with_a_default_it_is_fine(tmp_path: Path) -> None:
    for name, journey in (("inside", INSIDE), ("default", OUTSIDE % "safe")):
        write_workspace(tmp_path / name, journeys={"texts": journey}, templates=TEMPLATES)
        assert load_workspace(tmp_path / name).warnings == [], name
