"""Programmes that repeat (SPEC §15): `repeat`, `journey.iteration`, `iteration` on records, validation."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.links import SignedLinks
from engine.machine import Engine
from engine.memory_store import MemoryStore
from engine.testing import Harness, email, write_workspace
from rules.events import parse_event
from rules.problems import WorkspaceError
from rules.workspace import load_workspace
from tests.helpers import ANN, event

WEEKLY = """\
id: programme
trigger: {event: signed_up}
steps:
  - id: hello
    send: email
    template: week
  - id: weeks
    repeat: %s
    steps:
      - id: a_week
        wait: 7d
      - id: weekly
        send: email
        template: week
  - id: bye
    send: email
    template: week
"""
WEEK = {"week.email.html": email("Week {{ journey.iteration | default('none') }}")}


def test_repeat_times_runs_its_steps_that_many_times_then_goes_on() -> None:
    h = Harness(journeys={"programme": WEEKLY % "{times: 3}"}, templates=WEEK)
    h.run([event("signed_up", traits=ANN)], until="2026-06-01T00:00:00Z")
    assert [(r["at"], r["step"], r["subject"], r.get("iteration")) for r in h.of("send")] == [
        ("2026-03-02T12:00:00Z", "hello", "Week none", None),
        ("2026-03-09T12:00:00Z", "weekly", "Week 1", 1),
        ("2026-03-16T12:00:00Z", "weekly", "Week 2", 2),
        ("2026-03-23T12:00:00Z", "weekly", "Week 3", 3),
        ("2026-03-23T12:00:00Z", "bye", "Week none", None),
    ]
    assert h.of("exited")[0]["reason"] == "completed"


def test_each_pass_sends_a_distinct_message() -> None:
    h = Harness(journeys={"programme": WEEKLY % "{times: 3}"}, templates=WEEK)
    h.run([event("signed_up", traits=ANN)], until="2026-06-01T00:00:00Z")
    ids = [r["message_id"] for r in h.of("send")]
    assert len(set(ids)) == len(ids) == 5


def test_until_is_checked_before_each_pass() -> None:
    journey = WEEKLY % '{until: "activity.progress_logged.count >= 2", max: 10}'
    h = Harness(journeys={"programme": journey}, templates=WEEK)
    h.run([event("signed_up", traits=ANN),
           event("progress_logged", "2026-03-05T12:00:00Z"),
           event("progress_logged", "2026-03-12T12:00:00Z")], until="2026-06-01T00:00:00Z")
    assert [(r["at"], r["step"]) for r in h.of("send")] == [
        ("2026-03-02T12:00:00Z", "hello"),
        ("2026-03-09T12:00:00Z", "weekly"),
        ("2026-03-16T12:00:00Z", "weekly"),
        ("2026-03-16T12:00:00Z", "bye"),
    ]


def test_until_that_holds_at_once_runs_no_pass() -> None:
    journey = WEEKLY % '{until: "true", max: 10}'
    h = Harness(journeys={"programme": journey}, templates=WEEK)
    h.run([event("signed_up", traits=ANN)])
    assert [r["step"] for r in h.of("send")] == ["hello", "bye"]


def test_max_bounds_an_until_that_never_holds() -> None:
    journey = WEEKLY % '{until: "false", max: 2}'
    h = Harness(journeys={"programme": journey}, templates=WEEK)
    h.run([event("signed_up", traits=ANN)], until="2026-06-01T00:00:00Z")
    assert [r["step"] for r in h.of("send")] == ["hello", "weekly", "weekly", "bye"]


DAILY_AT = """\
id: daily
trigger: {event: signed_up}
steps:
  - id: days
    repeat: {times: 3}
    steps:
      - id: at_nine
        wait_until: {time: "09:00"}
      - id: tip
        send: email
        template: tip
"""


def test_a_wait_until_in_a_repeat_resolves_strictly_after_the_previous_pass() -> None:
    h = Harness(journeys={"daily": DAILY_AT}, templates={"tip.email.html": email("Tip {{ journey.iteration }}")})
    h.run([event("signed_up", "2026-03-02T08:00:00Z", traits=ANN)])
    assert [(r["at"], r["subject"], r["iteration"]) for r in h.of("send")] == [
        ("2026-03-02T09:00:00Z", "Tip 1", 1),
        ("2026-03-03T09:00:00Z", "Tip 2", 2),
        ("2026-03-04T09:00:00Z", "Tip 3", 3),
    ]


NESTED = """\
id: nested
trigger: {event: signed_up}
steps:
  - id: outer
    repeat: {times: 2}
    steps:
      - wait: 1d
      - id: inner
        repeat: {times: 2}
        steps:
          - wait: 1h
          - id: ping
            send: email
            template: n
      - id: after_inner
        send: email
        template: n
"""


def test_nested_repeats_count_their_own_passes() -> None:
    h = Harness(journeys={"nested": NESTED}, templates={"n.email.html": email("{{ journey.iteration }}")})
    h.run([event("signed_up", traits=ANN)])
    assert [(r["step"], r["subject"], r["iteration"]) for r in h.of("send")] == [
        ("ping", "1", 1), ("ping", "2", 2), ("after_inner", "1", 1),
        ("ping", "1", 1), ("ping", "2", 2), ("after_inner", "2", 2),
    ]


def test_an_exit_inside_a_repeat_carries_its_iteration() -> None:
    journey = WEEKLY % "{times: 3}" + '      - if: "journey.iteration == 2"\n        then: [exit]\n'
    journey = journey.replace("  - id: bye\n    send: email\n    template: week\n", "")
    h = Harness(journeys={"programme": journey}, templates=WEEK)
    h.run([event("signed_up", traits=ANN)], until="2026-06-01T00:00:00Z")
    [exited] = h.of("exited")
    assert (exited["reason"], exited["iteration"]) == ("exit_step", 2)


# ---- validate ------------------------------------------------------------------------------

def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


NO_WAIT = """\
id: burst
trigger: {event: signed_up}
steps:
  - repeat: {times: 3}
    steps:
      - send: email
        template: week
"""


def test_a_repeat_without_a_wait_is_a_validation_error(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"burst": NO_WAIT}, templates=WEEK)
    assert problems(tmp_path) == [
        "journeys/burst.yaml:4:5: a repeat needs a wait, wait_until or wait_for among its steps "
        "(without one, every pass would send at once)"]


@pytest.mark.parametrize(("spec", "message"), [
    ('{until: "true"}', "4:13: a repeat with 'until' needs 'max' (at most 1000 passes)"),
    ('{until: "true", max: 1001}', "4:34: 'max' is at most 1000: got 1001"),
    ("{times: 0}", "4:21: 'times' is at least 1: got 0"),
    ("{times: 2, until: \"true\", max: 3}", "4:13: a repeat takes either 'times' or 'until' (with 'max'), not both"),
    ("{}", "4:13: a repeat takes either 'times' or 'until' (with 'max')"),
])
def test_a_repeat_spec_that_does_not_bound_the_passes_is_an_error(tmp_path: Path, spec: str, message: str) -> None:
    journey = NO_WAIT.replace("{times: 3}", spec).replace("      - send", "      - wait: 1d\n      - send")
    write_workspace(tmp_path, journeys={"burst": journey}, templates=WEEK)
    assert problems(tmp_path) == [f"journeys/burst.yaml:{message}"]


def test_a_bad_until_expression_is_reported_at_its_place(tmp_path: Path) -> None:
    journey = NO_WAIT.replace("{times: 3}", '{until: "profile.x ==", max: 3}').replace(
        "      - send", "      - wait: 1d\n      - send")
    write_workspace(tmp_path, journeys={"burst": journey}, templates=WEEK)
    [problem] = problems(tmp_path)
    assert problem.startswith("journeys/burst.yaml:4:21: ")


# ---- live edits ----------------------------------------------------------------------------

def test_an_edit_that_takes_a_waiting_step_out_of_its_repeat_drops_the_pass_count(tmp_path: Path) -> None:
    at = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    old = load_workspace(write_workspace(tmp_path / "old", journeys={"programme": WEEKLY % "{times: 3}"},
                                         templates=WEEK)).workspace
    flat = WEEKLY.replace("  - id: weeks\n    repeat: %s\n    steps:\n", "").replace("      - ", "  - ").replace(
        "        ", "    ")
    new = load_workspace(write_workspace(tmp_path / "new", journeys={"programme": flat}, templates=WEEK)).workspace
    store = MemoryStore()
    Engine(old, store, SignedLinks(b"k", "http://x")).handle_event(parse_event(event("signed_up", traits=ANN)))
    assert store.customers["c1"].instances["programme"].iterations == {"weeks": 1}
    Engine(new, store, SignedLinks(b"k", "http://x")).migrate("c1", at)
    assert store.customers["c1"].instances["programme"].iterations == {}
