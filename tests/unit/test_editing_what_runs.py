"""SPEC §10: `was:` keeps customers at a renamed step; the plan names who moves, stays, exits or keeps a due time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.effects import Schedule
from engine.memory_store import MemoryStore
from engine.migration import Edit, Fate, Timing
from engine.machine import Engine
from engine.links import SignedLinks
from engine.runtimes.embedded import queries
from engine.runtimes.embedded.runtime import EmbeddedRuntime
from engine.runtimes.startup import StartupError
from engine.state import CustomerState, Instance, Waiting
from engine.testing import email, write_workspace
from rules.events import parse_event
from rules.problems import WorkspaceError
from rules.workspace import load_workspace
from tests.unit.test_embedded_runtime import JOURNEY, T0, ingest, nudge, records, signup, world  # noqa: F401 (fixture)

HI = {"hi.email.html": email("Hi")}


def problems(root: Path) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(root)
    return [str(p) for p in info.value.problems]


def edited(world: dict[str, Any], journey: str, templates: dict[str, str] | None = None) -> Any:
    write_workspace(world["root"], journeys={"hello": journey}, templates=templates)
    return load_workspace(world["root"]).workspace


# -- `was:` in the journey language ----------------------------------------------------


def test_a_step_may_say_which_ids_it_was(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": JOURNEY.replace("id: pause\n", "id: hold\n    was: [pause, wait_1]\n")},
                    templates=HI)
    [journey] = load_workspace(tmp_path).workspace.journeys
    assert journey.was == {"pause": "hold", "wait_1": "hold"}


def test_was_naming_a_step_that_still_exists_is_an_error_at_its_position(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": JOURNEY.replace("id: pause\n", "id: hold\n    was: greet\n")},
                    templates=HI)
    assert problems(tmp_path) == [
        "journeys/hello.yaml:8:10: 'was: greet' names a step that still exists (line 4); `was` names an id "
        "that is gone, so its waiting customers move here"]


def test_an_old_id_claimed_by_two_steps_is_an_error_at_the_second_claim(tmp_path: Path) -> None:
    journey = JOURNEY.replace("id: pause\n", "id: hold\n    was: old\n").replace(
        "id: later\n", "id: last\n    was: [other, old]\n")
    write_workspace(tmp_path, journeys={"hello": journey}, templates=HI)
    assert problems(tmp_path) == [
        "journeys/hello.yaml:11:18: 'old' is already claimed by step 'hold' (line 7): customers waiting at a "
        "step can move to one step only"]


# -- migration --------------------------------------------------------------------------


def test_customers_waiting_at_a_renamed_step_move_to_the_step_that_claims_it_and_get_their_message(
        world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()  # c1 waits in `pause`
    new = edited(world, JOURNEY.replace("id: pause\n", "id: hold\n    was: pause\n"))
    plan, applied = world["processor"].migrate(new)
    assert applied and [(r.step, r.fate, r.to, r.customers) for r in plan.rows] == [("pause", Fate.MOVE, "hold", ("c1",))]
    world["clock"].now = T0 + 3600
    world["processor"].run_batch()
    assert records(world)[-2:] == [("2026-03-02T13:00:00Z", "send", "later"), ("2026-03-02T13:00:00Z", "exited", "completed")]


def test_a_renamed_step_without_was_is_removed_and_the_apply_is_refused_unless_confirmed(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    new = edited(world, JOURNEY.replace("id: pause\n", "id: hold\n"))
    plan, applied = world["processor"].migrate(new, proceed=lambda p: not p.exits)
    assert not applied and [(r.step, r.fate, r.customers) for r in plan.rows] == [("pause", Fate.EXIT, ("c1",))]
    assert records(world)[-1][1] != "exited"  # nothing happened: c1 still waits at `pause`
    world["clock"].now = T0 + 3600
    world["processor"].run_batch()
    assert records(world)[-1] == ("2026-03-02T13:00:00Z", "exited", "completed")  # the old version ran


def test_nudge_plan_shows_from_the_database_who_would_move_and_who_would_exit(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0), signup("c2", T0))
    world["processor"].run_batch()
    write_workspace(world["root"], journeys={"hello": JOURNEY.replace("id: pause\n", "id: hold\n    was: pause\n")})
    shown = nudge(world, "plan", "--workspace", str(world["root"]))
    assert shown.returncode == 0, shown.stderr
    assert "move → hold" in shown.stdout and "c1, c2" in shown.stdout
    assert "2 customer(s) in flight: 0 stay, 2 move, 0 would exit" in shown.stderr


def test_a_changed_wait_keeps_its_due_time_unless_rescheduled(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0), signup("c2", T0))
    world["processor"].run_batch()
    longer = JOURNEY.replace("wait: 1h", "wait: 3h")
    world["clock"].now = T0 + 60
    plan = world["processor"].migrate(load_workspace(world["root"]).workspace)[0]  # nothing changed yet
    assert [(r.fate, r.timing) for r in plan.rows] == [(Fate.STAY, Timing.SAME)]
    plan, _ = world["processor"].migrate(edited(world, longer))
    assert [(r.step, r.fate, r.timing, r.customers) for r in plan.rows] == [("pause", Fate.STAY, Timing.KEPT, ("c1", "c2"))]
    world["clock"].now = T0 + 3600
    world["processor"].run_batch()
    assert records(world)[-1] == ("2026-03-02T13:00:00Z", "exited", "completed")  # the old due time held


def test_a_rescheduled_wait_counts_the_new_duration_from_when_the_wait_began(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    world["clock"].now = T0 + 600
    plan, _ = world["processor"].migrate(edited(world, JOURNEY.replace("wait: 1h", "wait: 3h")), reschedule=True)
    [row] = plan.rows
    assert (row.timing, row.due) == (Timing.RESCHEDULED, {"c1": datetime(2026, 3, 2, 15, tzinfo=timezone.utc)})
    before = records(world)
    world["clock"].now = T0 + 3600
    world["processor"].run_batch()
    assert records(world) == before  # the old timer is stale
    world["clock"].now = T0 + 3 * 3600
    world["processor"].run_batch()
    assert records(world)[-2:] == [("2026-03-02T15:00:00Z", "send", "later"), ("2026-03-02T15:00:00Z", "exited", "completed")]


# -- the plan, pure ---------------------------------------------------------------------

WEEKLY = """\
id: weekly
trigger: {event: signed_up}
steps:
  - id: until_thursday
    wait_until: {time: "10:00", days: [thu]}
  - id: remind
    send: email
    template: hi
"""
NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)  # a Monday


def parked(customer: str, journey: str, step: str, pc: int, due: datetime, *, tz: str | None = None) -> CustomerState:
    state = CustomerState.for_key(customer)
    if tz:
        state.traits["timezone"] = tz
    state.instances[journey] = Instance(f"i-{customer}", journey, NOW, {}, {}, pc, step, 1, Waiting.TIMER, due)
    return state


def workspace(tmp_path: Path, name: str, **journeys: str) -> Any:
    return load_workspace(write_workspace(tmp_path / name, journeys=journeys, templates=HI)).workspace


def test_a_wait_until_whose_day_changed_is_replanned_in_the_customers_zone_only_when_rescheduled(tmp_path: Path) -> None:
    old = workspace(tmp_path, "old", weekly=WEEKLY)
    new = workspace(tmp_path, "new", weekly=WEEKLY.replace("[thu]", "[wed]"))
    thursday = datetime(2026, 3, 5, 9, tzinfo=timezone.utc)
    states = [parked("ann", "weekly", "until_thursday", 0, thursday, tz="Europe/Paris")]
    [kept] = Edit(old, new).plan(states, NOW).rows
    assert (kept.timing, kept.due) == (Timing.KEPT, {})
    [moved] = Edit(old, new, reschedule=True).plan(states, NOW).rows
    assert (moved.timing, moved.due) == (Timing.RESCHEDULED, {"ann": datetime(2026, 3, 4, 9, tzinfo=timezone.utc)})
    store = MemoryStore()
    store.put_customer(states[0])
    effects = Engine(new, store, SignedLinks(b"k", "http://x")).migrate("ann", NOW, Edit(old, new, reschedule=True))
    [timer] = [e.timer for e in effects if isinstance(e, Schedule)]
    assert timer.due == datetime(2026, 3, 4, 9, tzinfo=timezone.utc)


def test_the_plan_names_who_moves_stays_and_exits_per_journey_and_step_and_caps_the_listing(tmp_path: Path) -> None:
    old = workspace(tmp_path, "old", hello=JOURNEY, weekly=WEEKLY)
    new = workspace(tmp_path, "new", hello=JOURNEY.replace("id: pause\n", "id: hold\n    was: pause\n"),
                    weekly=WEEKLY.replace("until_thursday", "until_friday"))
    due = NOW + timedelta(hours=1)
    states = [parked(f"c{i:02}", "hello", "pause", 1, due) for i in range(30)]
    states += [parked("ann", "weekly", "until_thursday", 0, due)]
    plan = Edit(old, new).plan(states, NOW)
    assert (plan.in_flight, plan.moves, plan.exits) == (31, 30, 1)
    body = plan.to_json(listed=20)
    assert [(j["journey"], [(s["step"], s["fate"], s["to"], s["count"]) for s in j["steps"]]) for j in body["journeys"]] == [
        ("hello", [("pause", "move", "hold", 30)]),
        ("weekly", [("until_thursday", "exit", None, 1)])]
    [hello_row] = body["journeys"][0]["steps"]
    assert hello_row["customers"] == [f"c{i:02}" for i in range(20)] and hello_row["more"] == 10
    assert body["journeys"][1]["steps"][0]["why"] == "no step has this id now, and none claims it with was:"


# -- a restart ---------------------------------------------------------------------------


def start(world: dict[str, Any], **kwargs: Any) -> Any:
    runtime = EmbeddedRuntime(world["root"], world["db"], wall_clock=world["clock"], **kwargs)
    runtime.front.lock.release()
    return runtime


def waiting_steps(world: dict[str, Any]) -> list[str]:
    return [i.step_id for s in queries.in_flight(world["conn"]) for i in s.instances.values()]


def test_files_edited_while_stopped_move_customers_at_start_and_exits_refuse_the_start(world: dict[str, Any]) -> None:
    start(world)  # the version it runs is recorded
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    write_workspace(world["root"], journeys={"hello": JOURNEY.replace("id: pause\n", "id: hold\n")})
    with pytest.raises(StartupError, match=r"would exit 1 customer\(s\) with step_removed \(hello: pause\)"):
        start(world)
    assert waiting_steps(world) == ["pause"]
    write_workspace(world["root"], journeys={"hello": JOURNEY.replace("id: pause\n", "id: hold\n    was: pause\n")})
    start(world)
    assert waiting_steps(world) == ["hold"]


def test_a_start_confirmed_with_yes_lets_the_customers_of_a_removed_step_exit(world: dict[str, Any]) -> None:
    start(world)
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    write_workspace(world["root"], journeys={"hello": JOURNEY.replace("id: pause\n", "id: hold\n")})
    start(world, confirm_exits=True)
    assert waiting_steps(world) == [] and records(world)[-1] == ("2026-03-02T12:00:00Z", "exited", "step_removed")


PROGRAMME = """\
id: programme
trigger: {event: signed_up}
steps:
  - id: weekly
    repeat: {times: 4}
    steps:
      - id: pause
        wait: 7d
      - id: remind
        send: email
        template: hi
"""


def test_a_renamed_repeat_keeps_the_pass_its_customers_are_in(tmp_path: Path) -> None:
    old = workspace(tmp_path, "old", programme=PROGRAMME)
    new = workspace(tmp_path, "new", programme=PROGRAMME.replace("id: weekly\n", "id: every_week\n    was: weekly\n"))
    state = parked("ann", "programme", "pause", 2, NOW + timedelta(days=3))
    state.instances["programme"].iterations = {"weekly": 3}
    store = MemoryStore()
    store.put_customer(state)
    Engine(new, store, SignedLinks(b"k", "http://x")).migrate("ann", NOW, Edit(old, new))
    assert store.customer("ann").instances["programme"].iterations == {"every_week": 3}  # type: ignore[union-attr]
