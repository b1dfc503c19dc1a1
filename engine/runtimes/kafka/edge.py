"""`nudge api --kafka`: the HTTP API, the dispatcher and a records sink beside Kafka workers.

Accepted events are produced to the events topic (202 only after the broker acknowledged
them: idempotent producer, acks=all). Outbox messages and outcome records are consumed
into a local SQLite file, where the same Dispatcher as the embedded runtime sends them
with the same exactly-once rules: a redelivered message id is ignored by the outbox's
unique key, and offsets are committed only after the rows are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.events import Event
from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.ingest import Accepted
from engine.runtimes.embedded.runtime import EmbeddedRuntime
from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.worker import KafkaSettings

log = logging.getLogger("nudge.edge")


class KafkaIngest:
    """Same face as the embedded Ingest: `submit` returns once the broker has the events."""

    def __init__(self, settings: KafkaSettings, clock: Callable[[], float]) -> None:
        self.topic = settings.topic("events")
        self.clock = clock
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True,
                                         metadata_max_age_ms=5000)

    async def submit(self, events: list[Event]) -> Accepted:
        received = self.clock()
        sends = [await self.producer.send(self.topic, key=envelopes.key_of(e).encode(),
                                          value=envelopes.event_envelope(e, received)) for e in events]
        await asyncio.gather(*sends)
        return Accepted(len(events), 0)  # workers drop repeated ids; the API cannot know them here

    async def run(self) -> None:
        await self.producer.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.producer.stop()


class KafkaEdgeRuntime(EmbeddedRuntime):
    """The embedded runtime's API and dispatcher, with the engine replaced by Kafka workers."""

    def __init__(self, workspace_dir: Path, db_path: Path, settings: KafkaSettings, public_url: str,
                 environ: Mapping[str, str]) -> None:
        super().__init__(workspace_dir, db_path, public_url, environ=environ)
        self.settings = settings
        # links must verify what the workers signed: one secret for the whole deployment
        self.links = SignedLinks(settings.link_secret.encode(), public_url)
        self.ingest = KafkaIngest(settings, self.clock)  # type: ignore[assignment]
        self.sink = database.connect(db_path)

    async def start(self) -> None:
        await self.dispatcher.recover()
        self._tasks = [
            asyncio.create_task(self.ingest.run(), name="producer"),
            asyncio.create_task(self._consume("outbox", self._outbox_rows), name="outbox"),
            asyncio.create_task(self._consume("records", self._record_rows), name="records"),
            asyncio.create_task(self._dispatch_loop(), name="dispatch"),
        ]
        await asyncio.sleep(0)

    def _outbox_rows(self, values: list[bytes]) -> None:
        rows = []
        for value in values:
            m = orjson.loads(value)
            origin = float(m.pop("origin", time.time()))
            rows.append((m["id"], m["channel"], m["customer_id"], m["journey"], m["step"], orjson.dumps(m), origin))
        self.sink.executemany(
            "INSERT OR IGNORE INTO outbox (id, channel, customer, journey, step, payload, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _record_rows(self, values: list[bytes]) -> None:
        """Each value is one input's records, a list."""
        rows = []
        for value in values:
            for r in orjson.loads(value):
                rows.append((r["at"], r.get("customer_id") or r.get("anonymous_id"), r["journey"], r["type"],
                             orjson.dumps(r)))
        self.sink.executemany("INSERT INTO records (at, customer, journey, type, body) VALUES (?, ?, ?, ?, ?)", rows)

    async def _consume(self, name: str, write: Callable[[list[bytes]], None]) -> None:
        """At-least-once: rows commit in SQLite first, offsets after."""
        consumer = AIOKafkaConsumer(self.settings.topic(name), bootstrap_servers=self.settings.bootstrap,
                                    group_id=f"{self.settings.app_id}-edge-{name}", enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    metadata_max_age_ms=5000)  # see topics the workers create later, soon
        await consumer.start()
        try:
            while True:
                batches: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=1000, max_records=1000)
                values = [r.value for records in batches.values() for r in records]
                if not values:
                    continue
                with transaction(self.sink):
                    write(values)
                await consumer.commit()
                if name == "outbox":
                    self._dispatch_wake.set()
        finally:
            await consumer.stop()
