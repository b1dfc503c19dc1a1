"""A repeat whose only wait sits in one branch: the customers on the other branch get every pass at once."""

from __future__ import annotations

from pathlib import Path

from engine.testing import Harness, email, write_workspace
from rules.workspace import load_workspace
from tests.helpers import ANN, event

WEEK = {"week.email.html": email("Week {{ journey.iteration | default('none') }}"),
        "nudge.sms.txt": "Your nudge"}

TEXTS_ONLY_WAIT = """\
id: weeks
trigger: {event: signed_up}
steps:
  - repeat: {times: 4}
    steps:
      - send: email
        template: week
      - if: "profile.sms_reminders"
        then:
          - wait_until: {time: "profile.reminder_time", default: {time: "18:00"}}
          - send: sms
            template: nudge
"""


def warnings(root: Path) -> list[str]:
    return [str(w) for w in load_workspace(root).warnings]


def test_a_wait_only_inside_then_warns_that_the_else_path_sends_every_pass_at_once(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"weeks": TEXTS_ONLY_WAIT}, templates=WEEK)
    assert warnings(tmp_path) == [
        "journeys/weeks.yaml:4:5: warning: a pass can go through without waiting (when 'if: profile.sms_reminders' "
        "at line 8 is false), so those customers get every pass at once: put a wait outside the 'if', or one in "
        "its 'else'"]


def test_the_customers_on_the_path_without_a_wait_really_get_every_pass_at_once() -> None:
    h = Harness(journeys={"weeks": TEXTS_ONLY_WAIT}, templates=WEEK)
    h.run([event("signed_up", traits=ANN)], until="2026-06-01T00:00:00Z")
    assert len({r["at"] for r in h.of("send")}) == 1 < len(h.of("send"))


def test_a_wait_on_both_branches_or_before_the_if_is_enough(tmp_path: Path) -> None:
    both = TEXTS_ONLY_WAIT + "        else:\n          - wait: 7d\n"
    before = TEXTS_ONLY_WAIT.replace("      - send: email\n", "      - wait: 7d\n      - send: email\n")
    for name, journey in (("both", both), ("before", before)):
        write_workspace(tmp_path / name, journeys={"weeks": journey}, templates=WEEK)
        assert warnings(tmp_path / name) == [], name


def test_a_branch_that_exits_needs_no_wait(tmp_path: Path) -> None:
    journey = TEXTS_ONLY_WAIT + "        else: [exit]\n"
    write_workspace(tmp_path, journeys={"weeks": journey}, templates=WEEK)
    assert warnings(tmp_path) == []


def test_a_split_variant_without_a_wait_is_named(tmp_path: Path) -> None:
    journey = """\
id: weeks
trigger: {event: signed_up}
steps:
  - repeat: {times: 4}
    steps:
      - split:
          name: cadence
          variants:
            - {name: weekly, weight: 1, steps: [{wait: 7d}]}
            - {name: at_once, weight: 1, steps: [{send: email, template: week}]}
"""
    write_workspace(tmp_path, journeys={"weeks": journey}, templates=WEEK)
    assert warnings(tmp_path) == [
        "journeys/weeks.yaml:4:5: warning: a pass can go through without waiting (in variant 'at_once' of split "
        "'cadence' at line 6), so those customers get every pass at once: give that variant a wait, or put one "
        "outside the 'split'"]


def test_an_inner_repeat_that_may_run_no_pass_does_not_count_as_the_wait(tmp_path: Path) -> None:
    journey = """\
id: weeks
trigger: {event: signed_up}
steps:
  - repeat: {times: 4}
    steps:
      - send: email
        template: week
      - repeat: {until: "profile.paused", max: 2}
        steps:
          - wait: 1d
"""
    write_workspace(tmp_path, journeys={"weeks": journey}, templates=WEEK)
    assert warnings(tmp_path) == [
        "journeys/weeks.yaml:4:5: warning: a pass can go through without waiting (when the 'until' of the repeat "
        "at line 8 holds before its first pass), so those customers get every pass at once: put a wait outside "
        "that repeat"]


def test_a_best_time_wait_does_not_close_the_path_it_is_on(tmp_path: Path) -> None:
    journey = TEXTS_ONLY_WAIT.replace("      - send: email\n", "      - wait_until: {best_time: 1d}\n      - send: email\n")
    write_workspace(tmp_path, journeys={"weeks": journey}, templates=WEEK)
    assert [w.split(" (")[0] for w in warnings(tmp_path)] == [
        "journeys/weeks.yaml:4:5: warning: a pass can go through without waiting"]
