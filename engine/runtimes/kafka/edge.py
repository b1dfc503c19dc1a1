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
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from engine.events import Event
from engine.links import SignedLinks
from engine.migration import Edit, Plan
from engine.model import Workspace
from engine.runtimes.embedded import broadcasts, database, queries
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.front import Front
from engine.runtimes.embedded.sqlite_store import CUSTOMER_UPSERT, customer_row
from engine.runtimes.kafka import envelopes, outcomes
from engine.runtimes.kafka.broadcasts import CANCEL, START, control_key
from engine.runtimes.kafka.snapshots import APPLIED, KafkaShelf, Snapshots
from engine.runtimes.kernel.copies import SnapshotError, pack
from engine.runtimes.kafka.store import Record
from engine.runtimes.kernel import codecs
from engine.runtimes.kernel.health import Health, Unavailable
from engine.runtimes.kernel.port import Accepted, Broadcasts, Counters
from engine.runtimes.kernel.serving import Outcome, Status, Versions
from engine.runtimes.settings import KafkaSettings, Settings
from rules.problems import Problem
from rules.workspace import load_workspace

log = logging.getLogger("nudge.edge")

PRODUCE_TIMEOUT = envelopes.ACCEPT_WITHIN  # a request answers 503 by then, rather than hang while the broker is away
PROBE_TIMEOUT = 3.0  # /healthz asks the broker for its metadata within this
RECONNECT_AFTER = 5.0  # a producer or consumer that could not reach the broker tries again after this
# per events partition, the last input whose outcome records are stored here (outcomes.py)
RECORDS_TAKEN = ("CREATE TABLE IF NOT EXISTS kafka_records_taken "
                 "(events_partition INTEGER PRIMARY KEY, last_offset INTEGER NOT NULL)")


class KafkaIngest:
    """Same face as the embedded Ingest: `submit` returns once the broker has the events, or raises
    Unavailable (503) within PRODUCE_TIMEOUT; the producer reconnects by itself."""

    def __init__(self, settings: KafkaSettings, clock: Callable[[], float]) -> None:
        self.topic = settings.topic("events")
        self.bootstrap = settings.bootstrap
        self.clock = clock
        self.producer: AIOKafkaProducer | None = None  # set while started
        self.last_error = "not connected yet"

    async def submit(self, events: list[Event]) -> Accepted:
        received = self.clock()
        producer = self._started()
        try:
            async with asyncio.timeout(PRODUCE_TIMEOUT):
                sends = [await producer.send(self.topic, key=envelopes.key_of(e).encode(),
                                             value=envelopes.event_envelope(e, received)) for e in events]
                await asyncio.gather(*sends)
        except (TimeoutError, KafkaError) as exc:
            raise self._unavailable(exc, "the events", "try again with the same event ids") from exc
        return Accepted(len(events), 0)  # workers drop repeated ids; the API cannot know them here

    async def erase(self, customer_id: str) -> None:
        """Asks the customer's worker to erase the profile; returns once the broker has it."""
        producer = self._started()
        try:
            async with asyncio.timeout(PRODUCE_TIMEOUT):
                await producer.send_and_wait(self.topic, key=customer_id.encode(),
                                             value=envelopes.erase_envelope(customer_id))
        except (TimeoutError, KafkaError) as exc:
            raise self._unavailable(exc, "the erasure", "nothing here was erased yet: try again") from exc

    async def to_every_partition(self, build: Callable[[int, int], tuple[str, bytes]], what: str) -> None:
        """`build(partition, partitions)`'s key and value to each partition of the events topic (as many
        as the broker says it has); returns once the broker has them all."""
        producer = self._started()
        try:
            async with asyncio.timeout(PRODUCE_TIMEOUT):
                n = len(await producer.partitions_for(self.topic))
                sends = []
                for p in range(n):
                    key, value = build(p, n)
                    sends.append(await producer.send(self.topic, key=key.encode(), value=value, partition=p))
                await asyncio.gather(*sends)
        except (TimeoutError, KafkaError) as exc:
            raise self._unavailable(exc, what, "try again") from exc

    async def unreachable(self) -> str | None:
        """Why the broker cannot be reached now, or None: a metadata round trip, bounded."""
        if self.producer is None:
            return f"unreachable at {self.bootstrap}: {self.last_error}"
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self.producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError) as exc:
            return f"unreachable at {self.bootstrap}: {exc or f'no answer within {PROBE_TIMEOUT:.0f} s'}"
        return None

    def _started(self) -> AIOKafkaProducer:
        if self.producer is None:
            raise Unavailable(f"the Kafka broker at {self.bootstrap} is unreachable ({self.last_error}); "
                              "nothing was accepted: try again")
        return self.producer

    def _unavailable(self, exc: BaseException, what: str, advice: str) -> Unavailable:
        why = str(exc) or f"no acknowledgement within {PRODUCE_TIMEOUT:.0f} s"
        return Unavailable(f"the Kafka broker at {self.bootstrap} did not acknowledge {what} ({why}); {advice}")

    async def run(self) -> None:
        while True:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                        metadata_max_age_ms=5000)
            try:
                await producer.start()
            except KafkaError as exc:
                self.last_error = str(exc) or type(exc).__name__
                log.warning("Kafka broker at %s unreachable (%s); trying again in %.0f s", self.bootstrap,
                            self.last_error, RECONNECT_AFTER)
                await _stop_quietly(producer)
                await asyncio.sleep(RECONNECT_AFTER)
                continue
            self.producer = producer
            try:
                await asyncio.Event().wait()
            finally:
                self.producer = None
                await producer.stop()


async def _stop_quietly(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """Close what a failed start left open; a broker that is away cannot make this fail too."""
    try:
        await client.stop()
    except KafkaError:
        pass


class KafkaEdgeRuntime:
    """The `Runtime` port beside Kafka workers: the API and the dispatcher, the engine elsewhere.

    Its database mirrors what the workers wrote; nothing here runs the engine on it, so an apply
    only plans from it, files the snapshot the workers load (snapshots.py) and swaps the workspace the API
    reads (the workers move their customers themselves), and the engine's counts and backlog, which only
    the workers know, are not reported here."""

    holder = "nudge api --kafka"

    def __init__(self, workspace_dir: Path, db_path: Path, settings: KafkaSettings, public_url: str,
                 config: Settings, wall_clock: Callable[[], float] = time.time) -> None:
        self.root = workspace_dir
        self.public_url = public_url
        self.clock = wall_clock
        self.settings = settings
        self.counters = Counters()
        self.health = Health(wall_clock)
        self.workspace = load_workspace(workspace_dir).workspace
        self.front = Front(workspace_dir, db_path, self.holder, self.workspace, public_url, wall_clock, config,
                           self.counters, self.health)
        self.read = self.front.read
        # links must verify what the workers signed: one secret for the whole deployment
        self.links = SignedLinks(settings.link_secret.encode(), public_url)
        self.producer = KafkaIngest(settings, wall_clock)
        self.db_path = db_path
        self.sink = database.connect(db_path)
        self.sink.execute(RECORDS_TAKEN)
        self.broadcasts: Broadcasts | None = EdgeBroadcasts(self, database.connect(db_path))
        self.filed = FiledVersions(workspace_dir, self.workspace, self.health, self._migrate, wall_clock)
        self.versions: Versions = self.filed
        self.unpacked = Path(tempfile.mkdtemp(prefix="nudge-applied-"))  # the applied files, when not those on disk
        self.snapshots = Snapshots(KafkaShelf(settings.bootstrap, settings.topic("workspaces")), self.unpacked)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.front.dispatcher.recover()
        self._tasks = [
            asyncio.create_task(self.producer.run(), name="producer"),
            asyncio.create_task(self._consume("outbox", self.settings.topic("outbox"), self._outbox_rows),
                                name="outbox consumer"),
            asyncio.create_task(self._consume("records", self.settings.topic("records"), self._record_rows),
                                name="records consumer"),
            asyncio.create_task(self._consume("customers", f"{self.settings.app_id}-customers-changelog",
                                              self._customer_rows), name="customers consumer"),
            asyncio.create_task(self._consume("aliases", f"{self.settings.app_id}-aliases-changelog",
                                              self._alias_rows), name="aliases consumer"),
            asyncio.create_task(self.front.dispatch_loop(), name="dispatch"),
        ]
        self.health.track(*self._tasks)
        self._tasks.append(asyncio.create_task(self._adopt(), name="applied version"))  # ends once done
        await asyncio.sleep(0)

    async def stop(self) -> None:
        await self.front.stop(self._tasks)
        shutil.rmtree(self.unpacked, ignore_errors=True)

    async def _adopt(self) -> None:
        """The version the workers run becomes the live one here (the files on disk may be an edit not
        applied when this process starts); asked again while the broker cannot be reached."""
        while True:
            try:
                self.workspace = await self.filed.adopt(self.snapshots)
                return
            except (KafkaError, TimeoutError) as exc:
                log.warning("cannot read the applied version from the Kafka broker at %s (%s); trying again in "
                            "%.0f s", self.settings.bootstrap, exc or type(exc).__name__, RECONNECT_AFTER)
                await asyncio.sleep(RECONNECT_AFTER)
            except SnapshotError as exc:  # kept on /healthz: the live version shown is the disk's until fixed
                self.health.failed("applied version", exc)
                log.error("cannot take the applied version from its snapshot: %s", exc)
                return

    async def submit(self, events: list[Event]) -> Accepted:
        accepted = await self.producer.submit(events)
        self.counters.accepted += accepted.accepted
        return accepted

    def wake_dispatch(self) -> None:
        self.front.dispatch_wake.set()

    def counts(self, conn: sqlite3.Connection) -> dict[str, Any]:
        """The outbox only: events and timers wait on the workers' partitions, not in this file."""
        return {"messages": queries.counts(conn)["messages"]}

    async def _migrate(self, edit: Workspace, version: str, reschedule: bool,
                       proceed: Callable[[Plan], bool]) -> tuple[Plan, bool]:
        """The plan from this file's mirror of the workers' customers (a moment behind them); applied by
        an `apply` envelope on every partition of the events topic, where each switches at one offset
        and its worker moves the customers (and records the exits)."""
        def in_flight() -> list[Any]:
            conn = database.connect(self.db_path)
            try:
                return queries.in_flight(conn)
            finally:
                conn.close()

        states = await asyncio.to_thread(in_flight)
        plan = Edit(self.workspace, edit, reschedule).plan(states, codecs.from_epoch(self.clock()))
        if not proceed(plan):
            return plan, False
        try:  # the files, for every worker to run whatever its disk holds, before any partition switches
            await self.snapshots.put(await asyncio.to_thread(pack, self.root), version)
        except (TimeoutError, KafkaError) as exc:
            raise self.producer._unavailable(exc, "the snapshot of the files", "nothing was applied: try again") from exc
        value = envelopes.apply_envelope(version, reschedule, self.clock())
        await self.producer.to_every_partition(lambda partition, partitions: (envelopes.APPLY_KEY, value), "the apply")
        try:  # only once every partition has it: an edge started again shows the version as applied
            await self.snapshots.point(APPLIED, version)
        except (TimeoutError, KafkaError) as exc:
            raise self.producer._unavailable(exc, "the record of the apply", "every partition has it; apply again to "
                                                                              "record it") from exc
        self.workspace = edit
        log.info("applied version %s (%d journeys): the workers switch at the apply's offset on every partition",
                 version, len(edit.journeys))
        return plan, True

    async def probe(self) -> dict[str, str]:
        found = await self.front.probe()
        if (problem := await self.producer.unreachable()) is not None:
            found["broker"] = problem
        return found

    def _outbox_rows(self, values: list[Any]) -> None:
        rows = []
        for value in values:
            m = orjson.loads(value.value)
            rows.append(codecs.outbox_row(m, float(m.pop("origin", self.clock()))))
        self.sink.executemany(codecs.OUTBOX_INSERT, rows)

    def _record_rows(self, values: list[Any]) -> None:
        """Each value holds a batch's outcome records of one events partition; those of an input
        stored before (the batch taken again, or the topic read again) are passed over. A
        worker's `erased` record (it follows the customer's earlier records) scrubs again what
        arrived since the API erased them."""
        taken: dict[int, int] = dict(self.sink.execute("SELECT events_partition, last_offset FROM kafka_records_taken"))
        for value in values:
            rows: list[tuple[Any, ...]] = []
            for r in outcomes.unread(value.value, value.headers, taken):
                if r["type"] == "erased":
                    self.sink.executemany(codecs.RECORD_INSERT, rows)
                    rows = []
                    queries.erase(self.sink, r["customer_id"], own_transaction=False)
                    continue
                rows.append(codecs.record_row(r))
            self.sink.executemany(codecs.RECORD_INSERT, rows)
        self.sink.executemany("INSERT OR REPLACE INTO kafka_records_taken VALUES (?, ?)", taken.items())

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
        found: bool = await asyncio.to_thread(queries.erase, self.read, customer_id)
        return found

    async def tell_partitions(self, broadcast_id: str, action: str, start: float, now: bool) -> None:
        """A broadcast's start or cancel to every partition, each keyed to land on its own."""
        def build(partition: int, partitions: int) -> tuple[str, bytes]:
            return (control_key(broadcast_id, partition, partitions),
                    envelopes.broadcast_envelope(broadcast_id, action, start, now, partitions))

        await self.producer.to_every_partition(build, f"the broadcast's {action}")

    async def _consume(self, name: str, topic: str, write: Callable[[list[Any]], None]) -> None:
        """Started again whenever the broker could not be reached (health shows the broker meanwhile)."""
        while True:
            consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.settings.bootstrap,
                                        group_id=f"{self.settings.app_id}-edge-{name}", enable_auto_commit=False,
                                        auto_offset_reset="earliest",
                                        metadata_max_age_ms=5000)  # see topics the workers create later, soon
            try:
                await consumer.start()
            except KafkaError as exc:
                log.warning("%s consumer: Kafka broker unreachable (%s); trying again in %.0f s", name, exc,
                            RECONNECT_AFTER)
                await _stop_quietly(consumer)
                await asyncio.sleep(RECONNECT_AFTER)
                continue
            try:
                await self._drain(name, consumer, write)
            except KafkaError as exc:  # offsets not committed: the rows come again, the outbox ignores repeats
                log.warning("%s consumer: %s; starting again in %.0f s", name, exc, RECONNECT_AFTER)
                await asyncio.sleep(RECONNECT_AFTER)

    async def _drain(self, name: str, consumer: AIOKafkaConsumer, write: Callable[[list[Any]], None]) -> None:
        """At-least-once: rows commit in SQLite first, offsets after."""
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
                    self.wake_dispatch()
        finally:
            await consumer.stop()


@dataclass
class FiledVersions(Versions):
    """Versions whose files are filed on the broker at each apply (snapshots.py): an apply whose files
    cannot be filed is refused as invalid, and the live version is the deployment's, not the disk's."""

    async def apply(self, *, confirm: bool = False, reschedule: bool = False, dry_run: bool = False,
                    held: bool = False) -> Outcome:
        try:
            return await super().apply(confirm=confirm, reschedule=reschedule, dry_run=dry_run, held=held)
        except SnapshotError as exc:
            outcome = Outcome(Status.INVALID, await self.disk_version(), self.version,
                              problems=(Problem(str(self.root), 1, 1, str(exc)),))
            self._refuse(outcome, f"refused: {exc}")
            return outcome

    async def adopt(self, snapshots: Snapshots) -> Workspace:
        """The version last applied (or else the initial one) as the live one, loaded from its snapshot;
        returns the workspace live now (the files on disk when that snapshot cannot be loaded)."""
        async with self._lock:
            version = await snapshots.deployed(await asyncio.to_thread(pack, self.root))
            if version == self.version:
                return self.workspace
            try:
                workspace = await snapshots.load(version)
            except SnapshotError as exc:
                log.error("the workers run version %s, but %s: this API keeps the files on disk (version %s) "
                          "as its own", version, exc, self.version)
                return self.workspace
            log.warning("the files in %s are version %s; the deployment runs the applied version %s (until "
                        "`nudge apply`)", self.root, self.version, version)
            self.workspace, self.version = workspace, version
            return workspace


class EdgeBroadcasts:
    """The `Broadcasts` port beside Kafka workers: a broadcast is recorded here once, then every partition
    is told; each worker selects the audience of its own partitions (engine/runtimes/kafka/broadcasts.py)."""

    waiting_known = False  # the entries to come are in the workers' records

    def __init__(self, edge: KafkaEdgeRuntime, conn: sqlite3.Connection) -> None:
        self.edge, self.conn = edge, conn  # its own connection: the consumers write on theirs meanwhile

    async def schedule(self, broadcast_id: str, now: bool) -> dict[str, Any]:
        view = await asyncio.to_thread(self._record, broadcast_id, now)
        try:
            await self.edge.tell_partitions(broadcast_id, START, view.pop("start_epoch"), now)
        except Unavailable:  # told to no partition, or to some: a second send tells them again, once each
            await asyncio.to_thread(self._forget, broadcast_id)
            raise
        return view

    async def cancel(self, broadcast_id: str) -> dict[str, int]:
        unsent = await asyncio.to_thread(self._cancelled, broadcast_id)
        await self.edge.tell_partitions(broadcast_id, CANCEL, self.edge.clock(), False)
        return {"messages_not_sent": unsent}

    def _record(self, broadcast_id: str, now: bool) -> dict[str, Any]:
        conn = self.conn
        with transaction(conn):
            view = broadcasts.schedule(conn, self.edge.workspace, broadcast_id, self.edge.clock(), now)
            (start,) = conn.execute("SELECT start FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
            # the workers plan it: this file only follows its records
            conn.execute("UPDATE broadcasts SET status = 'sending' WHERE id = ?", (broadcast_id,))
        return {**view, "status": "sending", "start_epoch": start}

    def _forget(self, broadcast_id: str) -> None:
        with transaction(self.conn):
            self.conn.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast_id,))

    def _cancelled(self, broadcast_id: str) -> int:
        with transaction(self.conn):
            return broadcasts.mark_cancelled(self.conn, broadcast_id, self.edge.clock())
