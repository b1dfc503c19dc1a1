"""A wake-up re-planned while waiting (SPEC §15) leaves no timer behind to fire: in each runtime's timer store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.effects import Schedule, Timer, TimerKind, Unschedule
from engine.events import Event
from engine.machine import Engine
from engine.memory_store import MemoryStore
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import Processor
from engine.runtimes.kafka.store import Record
from engine.runtimes.simulate import VirtualClock
from engine.testing import email, write_workspace
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.contract.runtimes import LINKS, RUNTIMES, Broker, ManualClock, canonical

CHOSEN = """\
id: remind
trigger: {event: signed_up}
steps:
  - id: at_chosen
    wait_until: {time: "profile.reminder_time", default: {time: "18:00"}}
  - id: reminder
    send: email
    template: reminder
"""
PARIS = {"email": "ann@example.com", "timezone": "Europe/Paris"}
SIGNED_UP = {"id": "e1", "type": "signed_up", "customer_id": "c1", "timestamp": "2026-03-02T12:00:00Z",
             "traits": {**PARIS, "reminder_time": "18:00"}}       # waits for Monday 17:00Z
MOVED = {"id": "e2", "type": "identify", "customer_id": "c1", "timestamp": "2026-03-02T13:00:00Z",
         "traits": {"reminder_time": "07:30"}}                    # now Tuesday 06:30Z
FIRST, MOVED_TO = datetime(2026, 3, 2, 17, tzinfo=timezone.utc), datetime(2026, 3, 3, 6, 30, tzinfo=timezone.utc)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", journeys={"remind": CHOSEN},
                           templates={"reminder.email.html": email("Reminder")})


def events() -> list[Event]:
    return [parse_event(SIGNED_UP), parse_event(MOVED)]


def test_the_engine_cancels_the_timer_it_replaces(root: Path) -> None:
    engine = Engine(load_workspace(root).workspace, MemoryStore(), LINKS)
    [first] = [e.timer for e in engine.handle_event(events()[0]) if isinstance(e, Schedule)]
    effects = engine.handle_event(events()[1])
    assert [e.timer_id for e in effects if isinstance(e, Unschedule)] == [first.id]
    assert [e.timer.due for e in effects if isinstance(e, Schedule)] == [MOVED_TO]


def test_the_embedded_timer_table_keeps_only_the_new_wake_up(root: Path, tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = ManualClock()
    conn = database.connect(db)
    processor = Processor(conn, load_workspace(root).workspace, LINKS, clock)
    for event in events():
        clock.now = event.timestamp.timestamp()
        accept(db, clock, event)
        processor.run_batch()
    assert conn.execute("SELECT due, kind FROM timers").fetchall() == [(MOVED_TO.timestamp(), "step")]
    clock.now = FIRST.timestamp()
    assert processor.run_batch().work == 0  # nothing due at 17:00Z any more


def accept(db: Path, clock: ManualClock, event: Event) -> None:
    async def go() -> None:
        ingest = Ingest(database.connect(db), clock, lambda: None)
        task = asyncio.create_task(ingest.run())
        await ingest.submit([event])
        task.cancel()

    asyncio.run(go())


def test_the_kafka_record_keeps_only_the_new_wake_up(root: Path) -> None:
    clock = ManualClock()
    broker = Broker(root, clock)
    for event in events():
        clock.now = event.timestamp.timestamp()
        broker.post(event, clock.now)
        broker.run()
    record = Record.decode(broker.tables.customers[b"c1"])
    assert [t["due"] for t in record.timers.values()] == [MOVED_TO.timestamp()]
    broker.fire_due(FIRST.timestamp())  # the due index still holds the old entry: it must not fire
    assert [r["type"] for r in broker.records()] == ["entered"]


def test_every_runtime_sends_the_reminder_once_at_the_new_time(root: Path, tmp_path: Path) -> None:
    until = datetime(2026, 3, 5, tzinfo=timezone.utc)
    outputs: dict[str, list[bytes]] = {}
    for name, run in RUNTIMES.items():
        (tmp_path / name).mkdir()
        records: list[dict[str, Any]] = run(root, events(), until, tmp_path / name)
        assert [(r["at"], r["type"]) for r in records if r["type"] == "send"] == [("2026-03-03T06:30:00Z", "send")]
        outputs[name] = canonical(records)
    assert outputs["embedded"] == outputs["simulate"] == outputs["kafka"]


def test_simulates_clock_drops_a_cancelled_timer_and_fires_the_rest_in_due_order() -> None:
    clock = VirtualClock()
    old, new = Timer(FIRST, "c1", TimerKind.STEP, "remind", "i#1"), Timer(MOVED_TO, "c1", TimerKind.STEP, "remind", "i#2")
    clock.schedule(old)
    clock.schedule(new)
    clock.cancel(old.id)
    assert clock.next_due() == MOVED_TO
    assert clock.pop_due(MOVED_TO, inclusive=True) == new
    assert clock.pop_due(MOVED_TO, inclusive=True) is None and len(clock) == 0
