"""A broadcast's start planned in chunks (engine/runtimes/embedded/broadcasts.py): events keep being processed
while a big audience is planned, and a restart, a newcomer or a cancel mid-planning neither misses nor repeats
anyone. A real SQLite file, the processor, a manual wall clock; chunks kept small so 10,000 customers take many."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from engine import broadcasts as planning
from engine.effects import Schedule
from engine.state import CustomerState

from engine.links import SignedLinks
from engine.runtimes.embedded import broadcasts, database
from engine.runtimes.embedded.processor import Processor
from rules.workspace import load_workspace
from tests.unit.test_broadcast_runtime import T0, ZONES, at
from tests.unit.test_broadcasts import LOCAL_9AM, workspace
from tests.unit.test_embedded_runtime import Clock, ingest

AUDIENCE = 10_000
CHUNK = 700
START = at("2026-03-09T19:00:00Z")  # the first wave: 09:00 at UTC+14


def processor(world: dict[str, Any]) -> Processor:
    """A processor on its own connection, as a (re)started `nudge run` has."""
    return Processor(database.connect(world["db"]), world["workspace"], SignedLinks(b"k", "http://x"), world["clock"],
                     broadcast_chunk=CHUNK)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 known customers in three zones, and a spring sale at 09:00 local (scheduled, not started)."""
    tmp = tmp_path_factory.mktemp("big")
    root = workspace(tmp, {"spring": LOCAL_9AM})
    world: dict[str, Any] = {"db": tmp / "nudge.db", "clock": Clock(T0), "workspace": load_workspace(root).workspace}
    database.create(world["db"])
    zones = list(ZONES.values())
    ingest(world, *({"type": "signed_up", "customer_id": f"c{n:05}", "timestamp": "2026-03-09T11:00:00Z",
                     "traits": {"email": f"c{n}@x.example", "timezone": zones[n % 3]}} for n in range(AUDIENCE)))
    while processor(world).run_batch().work:
        pass
    conn = database.connect(world["db"])
    broadcasts.schedule(conn, world["workspace"], "spring_sale", T0)
    conn.close()
    return tmp


@pytest.fixture
def world(template: Path, tmp_path: Path) -> dict[str, Any]:
    db = tmp_path / "nudge.db"
    source = database.connect(template / "nudge.db")
    source.execute(f"VACUUM INTO '{db}'")
    source.close()
    ws = load_workspace(template / "ws").workspace
    world = {"db": db, "clock": Clock(START), "workspace": ws, "conn": database.connect(db)}
    world["processor"] = processor(world)
    return world


def entries(world: dict[str, Any]) -> dict[str, int]:
    """How many times each customer was given an entry (a timer still waiting, or the entry it made)."""
    rows = world["conn"].execute(
        "SELECT key, COUNT(*) FROM (SELECT key FROM timers WHERE kind = 'broadcast' AND journey = 'spring_sale' "
        "UNION ALL SELECT customer FROM records WHERE journey = 'spring_sale' AND type = 'entered') GROUP BY key")
    return dict(rows.fetchall())


def plan_all(world: dict[str, Any]) -> None:
    while world["processor"].run_batch().work:
        pass


def test_an_event_posted_while_a_big_broadcast_starts_is_processed_before_the_planning_ends(
        world: dict[str, Any]) -> None:
    world["processor"].run_batch()
    view = broadcasts.status(world["conn"], "spring_sale")
    assert (view["status"], view["planned"], view["examined"], view["known"]) == ("starting", CHUNK, CHUNK, AUDIENCE)
    ingest(world, {"type": "page_viewed", "customer_id": "c09999", "timestamp": "2026-03-09T19:00:00Z"})
    world["processor"].run_batch()
    processed = world["conn"].execute("SELECT status FROM events WHERE customer = 'c09999' ORDER BY seq DESC").fetchone()
    assert processed == ("processed",)
    assert broadcasts.status(world["conn"], "spring_sale")["status"] == "starting"
    plan_all(world)
    view = broadcasts.status(world["conn"], "spring_sale")
    assert (view["status"], view["planned"]) == ("sending", AUDIENCE)
    assert entries(world) == {f"c{n:05}": 1 for n in range(AUDIENCE)}


def test_a_big_start_never_pauses_when_no_writer_waits_for_the_database(world: dict[str, Any]) -> None:
    plan_all(world)
    assert broadcasts.status(world["conn"], "spring_sale")["planned"] == AUDIENCE
    assert world["processor"].turns.given_way == 0


def test_an_event_posted_during_a_chunk_is_written_before_the_next_and_processed_in_the_same_batch(
        world: dict[str, Any]) -> None:
    """The ingest, waiting for the lock while a chunk is planned, has it before the engine loop goes on."""
    processor, turns = world["processor"], world["processor"].turns
    posting: list[threading.Thread] = []

    def post_during_the_chunk(statement: str) -> None:  # the chunk's transaction holds the lock: the ingest waits
        if "FROM customers" in statement and not posting:
            posting.append(threading.Thread(target=ingest, args=(world, {
                "type": "page_viewed", "customer_id": "c09999", "timestamp": "2026-03-09T19:00:00Z"})))
            posting[0].start()
            deadline = time.monotonic() + 30
            while not turns.waiting and time.monotonic() < deadline:
                time.sleep(0.001)

    processor.conn.set_trace_callback(post_during_the_chunk)
    result = processor.run_batch()
    processor.conn.set_trace_callback(None)
    posting[0].join()
    assert (result.planned, result.events, turns.given_way) == (CHUNK, 1, 1)
    assert broadcasts.status(world["conn"], "spring_sale")["status"] == "starting"


def test_newcomers_during_the_planning_join_once_whether_the_cursor_has_passed_them_or_not(
        world: dict[str, Any]) -> None:
    for _ in range(3):
        world["processor"].run_batch()
    ingest(world, *({"type": "signed_up", "customer_id": c, "timestamp": "2026-03-09T19:00:00Z",
                     "traits": {"email": f"{c}@x.example", "timezone": "Europe/Paris"}} for c in ("a_new", "z_new")))
    plan_all(world)
    world["clock"].now = at("2026-03-10T09:00:00Z")  # Paris has had its wave
    plan_all(world)
    assert entries(world)["a_new"] == entries(world)["z_new"] == 1
    sent = world["conn"].execute("SELECT customer, COUNT(*) FROM outbox WHERE journey = 'spring_sale' "
                                 "AND customer IN ('a_new', 'z_new') GROUP BY customer").fetchall()
    assert sent == [("a_new", 1), ("z_new", 1)]


def test_a_restart_mid_planning_goes_on_from_the_cursor_missing_no_one_and_repeating_no_one(
        world: dict[str, Any]) -> None:
    for _ in range(4):
        world["processor"].run_batch()
    world["processor"].conn.close()  # the process is gone: only what each chunk committed stays
    planned = broadcasts.status(world["conn"], "spring_sale")["planned"]
    assert planned == 4 * CHUNK
    world["processor"] = processor(world)
    plan_all(world)
    assert entries(world) == {f"c{n:05}": 1 for n in range(AUDIENCE)}


def test_cancelling_while_the_planning_goes_on_stops_it_and_drops_the_entries_made(world: dict[str, Any]) -> None:
    world["processor"].run_batch()
    done = world["processor"].cancel_broadcast("spring_sale")
    assert done["not_reached"] == CHUNK
    plan_all(world)
    world["clock"].now = at("2026-03-11T00:00:00Z")
    plan_all(world)
    assert broadcasts.status(world["conn"], "spring_sale")["status"] == "cancelled"
    assert entries(world) == {}


def test_a_database_from_before_chunked_planning_gets_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = database.connect(db)
    conn.execute("CREATE TABLE broadcasts (id TEXT PRIMARY KEY, status TEXT NOT NULL, start REAL NOT NULL, "
                 "now INTEGER NOT NULL DEFAULT 0, requested_at REAL NOT NULL, planned INTEGER, cancelled_at REAL)")
    conn.execute("INSERT INTO broadcasts VALUES ('old', 'sending', 1, 0, 1, 3, NULL)")
    database.create(db)
    database.create(db)  # twice: nothing to add the second time
    view = broadcasts.status(conn, "old")
    assert (view["status"], view["planned"]) == ("sent", 3)


# ---- a throttle across chunks ---------------------------------------------------

MINUTES = st.lists(st.integers(0, 30), max_size=40)


@given(MINUTES, st.randoms())
def test_the_slots_a_throttle_gives_do_not_depend_on_the_order_entries_come_in(minutes: list[int], rng: Any) -> None:
    start = datetime(2026, 3, 10, tzinfo=timezone.utc)

    def paced(order: list[int]) -> list[datetime]:
        pacer = planning.Pacer(start, 60)
        return sorted(pacer.place(start + timedelta(minutes=m)) for m in order)

    shuffled = minutes[:]
    rng.shuffle(shuffled)
    assert paced(shuffled) == paced(sorted(minutes))
    slots = paced(minutes)
    assert all(b - a >= timedelta(minutes=1) for a, b in zip(slots, slots[1:]))  # one a minute at 60/h
    assert all(slot >= start + timedelta(minutes=m) for slot, m in zip(slots, sorted(minutes)))  # none early


def test_a_throttled_broadcast_planned_in_chunks_is_paced_as_if_planned_whole(tmp_path: Path) -> None:
    ws = load_workspace(workspace(tmp_path, {"spring": LOCAL_9AM + "throttle: 120/h\n"})).workspace
    journey = ws.broadcasts[0]
    zones = list(ZONES.values())
    people = [CustomerState(f"c{n:03}", f"c{n:03}", traits={"email": "e@x.example", "timezone": zones[n % 3]})
              for n in range(300)]
    start = datetime.fromtimestamp(START, timezone.utc)

    def moments(chunk: int) -> list[datetime]:
        pacer = planning.Pacer(start, 120)
        found = []
        for first in range(0, len(people), chunk):
            restored = planning.Pacer(start, 120, pacer.runs())  # kept between chunks as a runtime does
            effects = planning.plan(journey, people[first:first + chunk], ws.settings, start, restored)
            found += [e.timer.due for e in effects if isinstance(e, Schedule)]
            pacer = restored
        return sorted(found)

    whole = moments(len(people))
    assert moments(7) == whole
    assert all(b - a >= timedelta(seconds=30) for a, b in zip(whole, whole[1:]))
