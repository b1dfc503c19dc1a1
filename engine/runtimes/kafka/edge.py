"""`nudge api --kafka`: the HTTP API, the dispatcher and a records sink beside Kafka workers.

Accepted events are produced to the events topic (202 only after the broker acknowledged
them: idempotent producer, acks=all). Outbox messages and outcome records are consumed
into a local SQLite file, where the same Dispatcher as the embedded runtime sends them
with the same exactly-once rules: a redelivered message id is ignored by the outbox's
unique key, and offsets are committed only after the rows are. The workers' `customers`
and `aliases` changelogs are read into the same file too: a view of every profile, a moment
behind the workers, for `GET /v1/customers/{id}` and for provider feedback that names only
an address.
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
from engine.runtimes.embedded import database, queries
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.ingest import Accepted
from engine.runtimes.embedded.runtime import EmbeddedRuntime
from engine.runtimes.embedded.sqlite_store import CUSTOMER_UPSERT, customer_row
from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.store import Record
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

    async def erase(self, customer_id: str) -> None:
        """Asks the customer's worker to erase the profile; returns once the broker has it."""
        await self.producer.send_and_wait(self.topic, key=customer_id.encode(),
                                          value=envelopes.erase_envelope(customer_id))

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
        self.producer = KafkaIngest(settings, self.clock)
        self.ingest = self.producer  # type: ignore[assignment]
        self.sink = database.connect(db_path)

    async def start(self) -> None:
        await self.dispatcher.recover()
        self._tasks = [
            asyncio.create_task(self.producer.run(), name="producer"),
            asyncio.create_task(self._consume("outbox", self.settings.topic("outbox"), self._outbox_rows)),
            asyncio.create_task(self._consume("records", self.settings.topic("records"), self._record_rows)),
            asyncio.create_task(self._consume("customers", f"{self.settings.app_id}-customers-changelog",
                                              self._customer_rows)),
            asyncio.create_task(self._consume("aliases", f"{self.settings.app_id}-aliases-changelog",
                                              self._alias_rows)),
            asyncio.create_task(self._dispatch_loop(), name="dispatch"),
        ]
        await asyncio.sleep(0)

    def _outbox_rows(self, values: list[Any]) -> None:
        rows = []
        for value in values:
            m = orjson.loads(value.value)
            origin = float(m.pop("origin", time.time()))
            rows.append((m["id"], m["channel"], m["customer_id"], m["journey"], m["step"], orjson.dumps(m), origin))
        self.sink.executemany(
            "INSERT OR IGNORE INTO outbox (id, channel, customer, journey, step, payload, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _record_rows(self, values: list[Any]) -> None:
        """Each value is one input's records, a list. A worker's `erased` record (it follows the
        customer's earlier records) scrubs again what arrived since the API erased them."""
        for value in values:
            rows = []
            for r in orjson.loads(value.value):
                if r["type"] == "erased":
                    queries.erase(self.sink, r["customer_id"], own_transaction=False)
                    continue
                rows.append((r["at"], r.get("customer_id") or r.get("anonymous_id"), r["journey"], r["type"],
                             orjson.dumps(r)))
            self.sink.executemany("INSERT INTO records (at, customer, journey, type, body) VALUES (?, ?, ?, ?, ?)",
                                  rows)

    def _customer_rows(self, values: list[Any]) -> None:
        """The workers' records, latest first wins: a state is upserted, a husk or erasure deleted."""
        for m in values:
            record = Record.decode(m.value) if m.value else None
            if record is not None and record.state is not None:
                self.sink.execute(CUSTOMER_UPSERT, customer_row(record.state))
            else:
                self.sink.execute("DELETE FROM customers WHERE key = ?", (m.key.decode(),))

    def _alias_rows(self, values: list[Any]) -> None:
        for m in values:
            if m.value:
                self.sink.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?)", (m.key.decode(), m.value.decode()))
            else:
                self.sink.execute("DELETE FROM aliases WHERE anonymous_id = ?", (m.key.decode(),))

    async def erase_customer(self, customer_id: str) -> bool:
        """The workers first (the erasure is on the broker before anything here is touched), then
        this file's view, records and messages."""
        known = await asyncio.to_thread(queries.customer_known, self.read, customer_id)
        if not known:
            return False
        await self.producer.erase(customer_id)
        return await super().erase_customer(customer_id)

    async def _consume(self, name: str, topic: str, write: Callable[[list[Any]], None]) -> None:
        """At-least-once: rows commit in SQLite first, offsets after."""
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.settings.bootstrap,
                                    group_id=f"{self.settings.app_id}-edge-{name}", enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    metadata_max_age_ms=5000)  # see topics the workers create later, soon
        await consumer.start()
        try:
            while True:
                batches: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=1000, max_records=1000)
                messages = [r for records in batches.values() for r in records]
                if not messages:
                    continue
                with transaction(self.sink):
                    write(messages)
                await consumer.commit()
                if name == "outbox":
                    self._dispatch_wake.set()
        finally:
            await consumer.stop()
