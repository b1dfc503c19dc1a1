"""Times the customer chooses (SPEC §15): wait_until time/days as expressions, their default, re-planning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.testing import Harness, email, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace
from tests.helpers import ANN, event

CHOSEN = """\
id: remind
trigger: {event: signed_up}
steps:
  - id: at_chosen
    wait_until: {time: "profile.reminder_time", days: "profile.reminder_days", default: %s}
  - id: reminder
    send: email
    template: reminder
"""
TEMPLATES = {"reminder.email.html": email("Your reminder")}


def harness(default: str = '{time: "18:00"}') -> Harness:
    return Harness(journeys={"remind": CHOSEN % default}, templates=TEMPLATES)


def sends_at(h: Harness, events: list[dict[str, Any]]) -> list[str]:
    h.run(events)
    return [r["at"] for r in h.of("send")]


PARIS = {**ANN, "timezone": "Europe/Paris"}


def test_the_customers_chosen_time_is_used_in_their_zone() -> None:
    # Monday 13:00 in Paris (CET, UTC+1): 07:30 has passed, so Tuesday 07:30 CET
    assert sends_at(harness(), [event("signed_up", traits={**PARIS, "reminder_time": "07:30"})]) == [
        "2026-03-03T06:30:00Z"]


def test_the_chosen_days_are_a_list_from_the_profile() -> None:
    traits = {**PARIS, "reminder_time": "07:30", "reminder_days": ["thu", "sat"]}
    assert sends_at(harness(), [event("signed_up", traits=traits)]) == ["2026-03-05T06:30:00Z"]


def test_a_missing_trait_takes_the_default_time() -> None:
    assert sends_at(harness(), [event("signed_up", traits=PARIS)]) == ["2026-03-02T17:00:00Z"]


@pytest.mark.parametrize("bad", ["7pm", "25:00", 1830, None, ["07:30"]])
def test_a_time_that_is_not_hh_mm_takes_the_default(bad: object) -> None:
    assert sends_at(harness(), [event("signed_up", traits={**PARIS, "reminder_time": bad})]) == [
        "2026-03-02T17:00:00Z"]


@pytest.mark.parametrize("bad", [[], ["someday"], 3, "fortnightly"])
def test_days_that_are_not_weekdays_take_the_default_days(bad: object) -> None:
    h = harness('{time: "18:00", days: [wed]}')
    assert sends_at(h, [event("signed_up", traits={**PARIS, "reminder_days": bad})]) == ["2026-03-04T17:00:00Z"]


def test_a_single_weekday_is_read_as_a_list_of_one() -> None:
    assert sends_at(harness(), [event("signed_up", traits={**PARIS, "reminder_days": "fri"})]) == [
        "2026-03-06T17:00:00Z"]


def test_a_time_expression_may_compute_the_time() -> None:
    journey = (CHOSEN % '{time: "09:00"}').replace('"profile.reminder_time"',
                                                   "\"profile.reminder_time if profile.early else '20:00'\"")
    h = Harness(journeys={"remind": journey}, templates=TEMPLATES)
    assert sends_at(h, [event("signed_up", traits={**PARIS, "reminder_time": "07:30"})]) == ["2026-03-02T19:00:00Z"]


# ---- across DST changes, in three zones -------------------------------------------------

@pytest.mark.parametrize(("zone", "signed_up", "expected"), [
    # Paris goes to CEST (UTC+2) on Sunday 29 March 2026: Monday 07:30 is 05:30Z
    ("Europe/Paris", "2026-03-28T12:00:00Z", "2026-03-30T05:30:00Z"),
    # New York goes to EDT (UTC-4) on Sunday 8 March 2026: Monday 07:30 is 11:30Z
    ("America/New_York", "2026-03-07T15:00:00Z", "2026-03-09T11:30:00Z"),
    # Sydney leaves AEDT (UTC+11) for AEST (UTC+10) on Sunday 5 April 2026: Monday 07:30 is 21:30Z Sunday
    ("Australia/Sydney", "2026-04-04T00:00:00Z", "2026-04-05T21:30:00Z"),
])
def test_a_chosen_time_keeps_its_local_wall_clock_across_a_dst_change(zone: str, signed_up: str,
                                                                      expected: str) -> None:
    traits = {**ANN, "timezone": zone, "reminder_time": "07:30", "reminder_days": ["mon"]}
    assert sends_at(harness(), [event("signed_up", signed_up, traits=traits)]) == [expected]


# ---- re-planned when the trait changes while waiting ------------------------------------

def test_moving_the_reminder_from_18_00_to_07_30_while_waiting_wakes_at_07_30() -> None:
    h = harness()
    sent = sends_at(h, [
        event("signed_up", traits={**PARIS, "reminder_time": "18:00"}),            # due Monday 17:00Z
        event("identify", "2026-03-02T13:00:00Z", traits={"reminder_time": "07:30"}),
    ])
    assert sent == ["2026-03-03T06:30:00Z"]


def test_moving_the_reminder_later_the_same_day_waits_for_the_new_time() -> None:
    sent = sends_at(harness(), [
        event("signed_up", traits={**PARIS, "reminder_time": "14:00"}),            # due Monday 13:00Z
        event("identify", "2026-03-02T12:30:00Z", traits={"reminder_time": "21:15"}),
    ])
    assert sent == ["2026-03-02T20:15:00Z"]


def test_moving_to_another_zone_while_waiting_replans_in_the_new_zone() -> None:
    sent = sends_at(harness(), [
        event("signed_up", traits={**PARIS, "reminder_time": "18:00"}),
        event("identify", "2026-03-02T13:00:00Z", traits={"timezone": "America/New_York"}),
    ])
    assert sent == ["2026-03-02T23:00:00Z"]


def test_an_unrelated_trait_change_keeps_the_wake_up() -> None:
    h = harness()
    sent = sends_at(h, [
        event("signed_up", traits={**PARIS, "reminder_time": "18:00"}),
        event("identify", "2026-03-02T13:00:00Z", traits={"first_name": "Annie"}),
    ])
    assert sent == ["2026-03-02T17:00:00Z"]


# ---- validate ------------------------------------------------------------------------------

def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


NO_DEFAULT = """\
id: remind
trigger: {event: signed_up}
steps:
  - wait_until: {time: "profile.reminder_time"}
  - send: email
    template: reminder
"""


def test_an_expression_time_without_a_default_is_a_validation_error(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"remind": NO_DEFAULT}, templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/remind.yaml:4:17: an expression time needs a 'default' (e.g. default: {time: \"18:00\"}), "
        "used when the expression gives no HH:MM"]


def test_expression_days_without_a_default_are_a_validation_error(tmp_path: Path) -> None:
    journey = NO_DEFAULT.replace('{time: "profile.reminder_time"}', '{time: "09:00", days: "profile.reminder_days"}')
    write_workspace(tmp_path, journeys={"remind": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/remind.yaml:4:17: expression days need a 'default' (e.g. default: {days: [mon]}), "
        "used when the expression gives no list of weekdays"]


def test_an_expression_time_needs_a_default_time(tmp_path: Path) -> None:
    journey = NO_DEFAULT.replace('{time: "profile.reminder_time"}',
                                 '{time: "profile.reminder_time", default: {days: [mon]}}')
    write_workspace(tmp_path, journeys={"remind": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == [
        "journeys/remind.yaml:4:58: this 'default' needs a 'time' (e.g. default: {days: [mon], time: \"18:00\"}), "
        "used when the expression gives no HH:MM"]


def test_a_time_expression_with_a_syntax_error_is_reported_at_its_place(tmp_path: Path) -> None:
    journey = NO_DEFAULT.replace('{time: "profile.reminder_time"}',
                                 '{time: "profile.reminder_time +", default: {time: "18:00"}}')
    write_workspace(tmp_path, journeys={"remind": journey}, templates=TEMPLATES)
    [problem] = problems(tmp_path)
    assert problem.startswith("journeys/remind.yaml:4:24: invalid expression")


def test_a_literal_time_needs_no_default(tmp_path: Path) -> None:
    journey = NO_DEFAULT.replace('{time: "profile.reminder_time"}', '{time: "09:00", days: [mon, thu]}')
    write_workspace(tmp_path, journeys={"remind": journey}, templates=TEMPLATES)
    assert [j.id for j in load_workspace(tmp_path).workspace.journeys] == ["remind"]


def test_a_time_that_starts_like_a_clock_time_but_is_not_one_says_so(tmp_path: Path) -> None:
    journey = NO_DEFAULT.replace('"profile.reminder_time"', '"7pm"')
    write_workspace(tmp_path, journeys={"remind": journey}, templates=TEMPLATES)
    assert problems(tmp_path) == ["journeys/remind.yaml:4:24: '7pm' is not a time: use 24-hour HH:MM, e.g. 08:00"]


def test_a_default_beside_literal_times_is_flagged_as_never_used(tmp_path: Path) -> None:
    journey = NO_DEFAULT.replace('{time: "profile.reminder_time"}', '{time: "09:00", default: {time: "18:00"}}')
    write_workspace(tmp_path, journeys={"remind": journey}, templates=TEMPLATES)
    assert [str(w) for w in load_workspace(tmp_path).warnings] == [
        "journeys/remind.yaml:4:42: warning: 'default' is used only when time or days is an expression: "
        "here it never applies"]
