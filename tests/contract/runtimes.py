"""The three runtimes driven over the same events with one manual clock: simulate, the embedded
Processor on a real SQLite file, and the Kafka Router with its real batch handling on a stand-in
broker (no wall clock anywhere). Each returns the outcome records (SPEC §7) it wrote."""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import deque
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import orjson

from engine.events import Event
from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import Processor
from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kafka.router import Router, Topics
from engine.runtimes.kafka.store import Record, Tables, partition_for
from engine.runtimes.simulate import SIMULATE_BASE_URL, SIMULATE_SECRET, simulate
from rules.workspace import load_workspace
from tests.kafka_wire import live_workspace, take

Run = Callable[[Path, list[Event], datetime, Path], list[dict[str, Any]]]
LINKS = SignedLinks(SIMULATE_SECRET, SIMULATE_BASE_URL)  # the same links in every runtime: the same texts


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _moments(events: list[Event], next_due: Callable[[], float], until: datetime,
             step: Callable[[float, list[Event]], None]) -> None:
    """Advance to each event's journey time or timer's due time in turn, through `until`; `step`
    gets the moment and the events accepted then (it processes those, then what is due)."""
    pending = deque(sorted(events, key=lambda e: e.journey_time))
    end = until.timestamp()
    while True:
        moment = min(pending[0].journey_time.timestamp() if pending else math.inf, next_due())
        if moment > end:
            return
        arrived = []
        while pending and pending[0].journey_time.timestamp() <= moment:
            arrived.append(pending.popleft())
        step(moment, arrived)


def run_simulate(root: Path, events: list[Event], until: datetime, tmp: Path) -> list[dict[str, Any]]:
    return simulate(load_workspace(root).workspace, events, until=until).records


def run_embedded(root: Path, events: list[Event], until: datetime, tmp: Path) -> list[dict[str, Any]]:
    db = tmp / "nudge.db"
    database.create(db)
    clock = ManualClock()
    processor = Processor(database.connect(db), load_workspace(root).workspace, LINKS, clock)

    async def accept(arrived: list[Event]) -> None:
        ingest = Ingest(database.connect(db), clock, lambda: None)
        task = asyncio.create_task(ingest.run())
        await ingest.submit(arrived)
        task.cancel()

    def step(moment: float, arrived: list[Event]) -> None:
        clock.now = moment
        if arrived:
            asyncio.run(accept(arrived))
        while processor.run_batch().work:
            pass

    _moments(events, lambda: processor.next_due() or math.inf, until, step)
    conn = database.connect(db)
    return [orjson.loads(body) for (body,) in conn.execute("SELECT body FROM records ORDER BY seq")]


class Broker:
    """The events topic as a queue (each key on its partition, as Kafka places it), the other
    topics as lists; each input goes through the Router and a real Batch, whose table writes are
    applied once it is released, and whose timers go to a due index as the worker's tick keeps it."""

    PARTITIONS = 4

    def __init__(self, root: Path, clock: ManualClock) -> None:
        self.tables = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]
        self.router = Router(self.tables, live_workspace(root, self.tables.progress), LINKS, Topics("events", "records", "outbox", "dead"),
                             self.PARTITIONS, clock=clock)
        self.topics: dict[str, list[tuple[bytes | None, bytes | None]]] = {
            "events": [], "records": [], "outbox": [], "dead": []}
        self.read = 0
        self.offsets: dict[int, int] = {}
        self.due: list[tuple[float, str, str]] = []  # due, timer id, record key

    def post(self, event: Event, received_at: float) -> None:
        self.topics["events"].append((envelopes.key_of(event).encode(), envelopes.event_envelope(event, received_at)))

    def fire_due(self, now: float) -> None:
        """Ask for every timer due by `now` to be fired, as the worker's tick does, in due order."""
        while self.due and self.due[0][0] <= now:
            _, timer_id, key = heapq.heappop(self.due)
            data = self.tables.customers.get(key.encode())
            if data and timer_id in Record.header(data)["timers"]:  # not fired, nor moved with a hand-over
                self.topics["events"].append((key.encode(), envelopes.fire_envelope(timer_id)))
            self.run()

    def next_due(self) -> float:
        return self.due[0][0] if self.due else math.inf

    def run(self) -> None:
        while self.read < len(self.topics["events"]):
            key, value = self.topics["events"][self.read]
            self.read += 1
            assert key is not None
            partition = partition_for(key.decode(), self.PARTITIONS)
            offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
            asyncio.run(self._handle(SimpleNamespace(key=key, value=value, topic="events", partition=partition,
                                                     offset=offset)))

    async def _handle(self, message: Any) -> None:
        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            self.topics[topic].append((key, value))  # taken at once: nothing for `acks` to wait for

        batch = await take(self.router, self.tables, message, send)
        for _, due, timer_id, key in batch.timers:
            heapq.heappush(self.due, (due, timer_id, key))

    def records(self) -> list[dict[str, Any]]:
        assert not self.topics["dead"], self.topics["dead"]
        return [r for _, value in self.topics["records"] if value for r in orjson.loads(value)]


def run_kafka(root: Path, events: list[Event], until: datetime, tmp: Path) -> list[dict[str, Any]]:
    clock = ManualClock()
    broker = Broker(root, clock)

    def step(moment: float, arrived: list[Event]) -> None:
        clock.now = moment
        for event in arrived:
            broker.post(event, moment)
        broker.run()  # events before the timers due at their time (SPEC §4)
        broker.fire_due(moment)

    _moments(events, broker.next_due, until, step)
    return broker.records()


RUNTIMES: dict[str, Run] = {"simulate": run_simulate, "embedded": run_embedded, "kafka": run_kafka}


def canonical(records: list[dict[str, Any]]) -> list[bytes]:
    """The records as a sorted multiset: the runtimes interleave different customers differently."""
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)


def every_runtime(root: Path, events: list[Event], until: datetime, tmp: Path) -> dict[str, list[bytes]]:
    """Each runtime's records (canonical), each on its own files under `tmp`."""
    outputs = {}
    for name, run in RUNTIMES.items():
        (tmp / name).mkdir()
        outputs[name] = canonical(run(root, events, until, tmp / name))
    return outputs
