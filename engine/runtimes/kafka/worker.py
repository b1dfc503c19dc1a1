"""`nudge worker`: the engine on Kafka with faust-streaming.

One agent consumes the events topic (keyed by customer), keeps customer states, seen ids
and timers in tables backed by changelog topics, and produces outcome records and outbox
messages (what one input does is router.py's). Durable timers live in the customer's record
(see store.py); a memory index of what is due, rebuilt from the table after each rebalance,
lets every worker's one-second tick send a `fire` envelope to each due timer's partition,
where the agent pops the timer from the record and runs the step. Processing is at-least-once with idempotent handlers: a
record remembers the last input applied to it, repeated event ids and timer ids do nothing
the second time, and table writes are applied only after the outputs are acknowledged.
An input the engine fails on goes to the dead-letters topic (the error in a header) and the
rest of its batch goes on; a batch the broker does not take stops the worker before the
batch is acknowledged, so that it is processed again after the restart.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP
from mode.types.signals import BaseSignalT

from engine.links import SignedLinks
from engine.runtimes.kafka import envelopes as env
from engine.runtimes.kafka.batch import Batch
from engine.runtimes.kafka.due_index import DueIndex
from engine.runtimes.kafka.faust_internals import eager_intake, seek_on_consumer_thread, take_batches, write_changelog
from engine.runtimes.kafka.fill import FillWindow
from engine.runtimes.kafka.live import LiveWorkspace, Unapplied, applies_in
from engine.runtimes.kafka.producer import Producer
from engine.runtimes.kafka.progress import Rewinder, Stalls, Tally, last_in
from engine.runtimes.kafka.router import Router, Topics
from engine.runtimes.kafka.snapshots import KafkaShelf, Snapshots
from engine.runtimes.kafka.store import Record, Tables, partition_for
from engine.runtimes.kafka.topics import Wanted, declare
from engine.runtimes.kafka.winners import Decider
from engine.runtimes.kernel.codecs import from_epoch
from engine.runtimes.settings import KafkaSettings
from engine.turn import iso

log = logging.getLogger("nudge.worker")

REQUEST_AGAIN_AFTER = 30.0  # a fire request not acted on by then is sent again
BATCH, BATCH_WITHIN = 1000, 0.02  # inputs handled per flush (a batch is that big only under a backlog); how long a batch waits to fill
# while a backlog shows (the last batch had BACKLOG_AT inputs or more), a batch waits this long to fill
BACKLOG_WITHIN, BACKLOG_AT = 0.05, 100
EXIT_UNWRITTEN = 75  # EX_TEMPFAIL: a supervisor restarts the worker, which takes the batch again
EXIT_CONFIG = 78  # EX_CONFIG: the settings do not match the topics
# allocations between young collections (Python's default 700): a worker makes and drops a few hundred
# objects per input, and collecting every 700 took ~6% of its CPU (BENCHMARKS.md)
COLLECT_EVERY = 20_000


def create_worker(workspace_root: Path, settings: KafkaSettings) -> faust.App:
    links = SignedLinks(settings.link_secret.encode(), settings.public_url)
    app = faust.App(
        settings.app_id, broker=f"kafka://{settings.bootstrap}", store=settings.store, datadir=settings.data_dir,
        topic_partitions=settings.partitions, topic_replication_factor=1, processing_guarantee="at_least_once",
        producer_acks=-1, web_enabled=False, table_standby_replicas=0, consumer_auto_offset_reset="earliest",
        key_serializer="raw", value_serializer="raw",
        broker_session_timeout=settings.session_timeout, broker_heartbeat_interval=settings.session_timeout / 10,
        # a first worker can subscribe before the topics it creates are in the broker's metadata:
        # it then sees them at the next refresh, by default 5 minutes later
        consumer_metadata_max_age_ms=5000,
    )
    # keys and values are bytes (faust's raw codec): keys are UTF-8 on the wire, so producers
    # outside faust partition records the same way; tables derive their codec from the types
    n = settings.partitions
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "default": None, "partitions": n}
    wire: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw",
                            "partitions": n, "internal": True}  # internal: faust creates the topics
    events = app.topic(settings.topic("events"), **wire)
    records = app.topic(settings.topic("records"), **wire)
    outbox = app.topic(settings.topic("outbox"), **wire)
    dead_letters = app.topic(settings.topic("dead-letters"), **wire)  # inputs the engine failed on
    tables = Tables(customers=app.Table("customers", **raw), seen=app.Table("seen", **raw),
                    aliases=app.GlobalTable("aliases", **raw), suppressions=app.GlobalTable("suppressions", **raw),
                    progress=app.Table("progress", **raw), experiments=(tested := app.GlobalTable("experiments", **raw)))
    shelf = KafkaShelf(settings.bootstrap, settings.topic("workspaces"))
    live = LiveWorkspace(workspace_root, Snapshots(shelf, Path(settings.data_dir) / "workspaces"),
                         app.Table("versions", **raw), tables.progress)
    decider = Decider()
    index = DueIndex(n)

    topics = Topics(events=events.get_topic_name(), records=records.get_topic_name(),
                    outbox=outbox.get_topic_name(), dead_letters=dead_letters.get_topic_name())

    async def seek(partition: int, offset: int) -> None:
        await seek_on_consumer_thread(app, topics.events, partition, offset)

    rewinder, stalls, tally = Rewinder(seek), Stalls(), Tally()

    def highwater(partition: int) -> int | None:
        try:
            end: int | None = app.consumer.highwater(TP(topics.events, partition))
            return end
        except Exception:  # not assigned here (any more), or not fetched from yet
            return None

    router = Router(tables, live, links, topics, n)
    # outputs and changelog records through librdkafka (producer.py): faust's producer, pure
    # Python, cost a worker more per input than its engine's work
    producer = Producer(settings.bootstrap, **{"client.id": settings.app_id})
    send, changelog = producer.send, partial(write_changelog, producer.send)

    async def handle(inputs: list[Any]) -> None:
        """Outputs first, acknowledged; only then the table writes that mark the inputs done.

        Inputs are handled in order, each seeing the writes of those before it; the broker's
        acknowledgements are awaited once per batch, not once per input, which is what makes
        a worker fast (a round trip per input would bound it to a few hundred a second).
        """
        batch = Batch(send, tables.progress, rewinder.gone, records_topic=topics.records)
        for item in inputs:
            message = item.message
            stalls.heard(message.partition)
            if not batch.progress.admit(message.partition, message.offset):
                continue
            batch.begin(item)
            scheduled = len(batch.timers)
            try:
                router.route(item.value, message.key.decode(), message.partition, message.offset, batch)
            except Exception as exc:  # this input's fault (or the engine's): it must not stop the rest
                batch.drop(scheduled)
                log.exception("input %s:%s failed; dead-lettered", message.partition, message.offset)
                router.quarantine(message, exc, batch)
            batch.progress.advance(message.partition, message.offset)
            await batch.release()  # handled: its outputs go out with the batch
        # all on the broker before these inputs' offsets can be committed, or a worker killed now
        # would lose them
        await batch.finish(changelog, tables.customers, tables.progress)
        tally.add(len(inputs), batch.writes.logged)
        for partition, due, timer_id, key in batch.timers:
            index.push(partition, due, timer_id, key)
        await rewinder.rewind(batch.progress.rewinds)

    @app.on_rebalance_complete.connect
    async def reindex(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        """Partitions moved and their tables were recovered: the due index is rebuilt, and the versions
        the partitions run are read again."""
        index.stale = True
        live.reassigned()

    @app.task  # type: ignore[untyped-decorator]
    async def declare_topics() -> None:
        """Output topics exist before the first send (the broker creates no topics by itself), and
        the events topic has the partitions the settings say: timers are sent to the partition
        computed from them, and one computed wrong would never fire."""
        for topic in (records, outbox, dead_letters):
            await topic.maybe_declare()
        found = await partition_count(settings.bootstrap, topics.events)
        if found is not None and found != n:
            stop(EXIT_CONFIG, "topic %s has %d partitions but NUDGE_KAFKA_PARTITIONS is %d: set it to %d (the "
                 "partition count of a topic in use cannot change without moving its data)",
                 topics.events, found, n, found)
        # the producer looks its topics up while the tables recover, not when the first batch is done
        changelogs = [t.changelog_topic.get_topic_name() for t in vars(tables).values() if t is not None]
        await producer.start([topics.outbox, topics.records, topics.dead_letters, *changelogs])
        collect_less()

    @app.agent(events)
    async def process(stream: Any) -> None:
        window = FillWindow(BATCH_WITHIN, BACKLOG_WITHIN, BACKLOG_AT)
        async for inputs in take_batches(stream, BATCH, window):
            window.took(len(inputs))
            try:
                await live.prepare({item.message.partition for item in inputs}, applies_in(inputs))
                await handle(inputs)
            except Unapplied as exc:
                stop(EXIT_CONFIG, "%s", exc)
            except BaseException:  # the broker failed us, or a stop came mid-batch: leaving the loop
                # would acknowledge the batch, so the process goes without acknowledging it
                stop(EXIT_UNWRITTEN, "a batch could not be written out; exiting so that it is processed again",
                     exc_info=True)

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        """On every worker, for its own partitions: ask for each due timer to be fired, and send
        the consumer back to inputs it has passed without delivering (progress.py)."""
        now = time.time()
        mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.events}
        if index.stale or mine != index.owned:
            index.rebuild(((k.decode(), partition_for(k.decode(), n), Record.header(v)["timers"])
                           for k, v in list(tables.customers.items()) if v), mine)
            stalls.own(mine)
        if not (app.rebalancing or app.in_recovery):  # paused then, and sought to the committed offsets after
            await rewinder.rewind(stalls.stalled(partial(last_in, tables.progress.get), highwater))
        switched, live.switched = dict(live.switched), []
        if switched:  # partitions an apply reached: their journeys in flight move now, not at their next input
            for k, v in list(tables.customers.items()):
                partition = partition_for(k.decode(), n)
                if v and partition in switched and partition in mine and Record.header(v)["active"]:
                    await events.send(key=k, value=env.migrate_envelope(switched[partition], now), partition=partition)
        if (line := tally.report()) is not None:
            log.info("%s", line)
        if 0 in mine:  # one decider for the deployment: the owner of partition 0 (winners.py)
            for decision in decider.due(router.experiments(0), list(tested.items()), from_epoch(now)):
                value = env.winner_envelope(decision.record(iso(from_epoch(now))))
                for partition in range(n):
                    await events.send(key=f"winner:{decision.experiment.journey}:{decision.experiment.step}".encode(),
                                      value=value, partition=partition)
        for partition, timer_id, key in index.pop_due(now - settings.fire_grace):
            data = tables.customers.get(key.encode())
            if not data or timer_id not in Record.header(data)["timers"]:
                continue  # fired, re-planned (unscheduled), or moved with a hand-over
            await events.send(key=key.encode(), value=env.fire_envelope(timer_id), partition=partition)
            index.push(partition, now + REQUEST_AGAIN_AFTER, timer_id, key)  # in case the request is lost

    eager_intake(app)  # faust's intake without a task per message (faust_internals.py)
    return app


def make_topics(app: faust.App, settings: KafkaSettings) -> None:
    """Before faust starts: the topics the worker joins its group with and writes to, made and shown in the
    broker's metadata (topics.py says why); raises `TimeoutError` or `KafkaException` if the broker does not."""
    wanted = [Wanted(settings.topic(name)) for name in ("events", "records", "outbox", "dead-letters")]
    wanted += [Wanted(table.changelog_topic.get_topic_name(), compacted=True) for table in app.tables.values()]
    declare(settings.bootstrap, wanted, settings.partitions)


def collect_less() -> None:
    """Once started: what start-up made (faust, the workspace, the engine's plans) lives as long as the
    worker, so the garbage collector no longer walks it (`gc.freeze`), and young objects are
    collected every `COLLECT_EVERY` allocations rather than 700."""
    gc.freeze()
    gc.set_threshold(COLLECT_EVERY, *gc.get_threshold()[1:])


def stop(status: int, message: str, *args: Any, exc_info: bool = False) -> None:
    """Logged, then gone at once: no faust shutdown, which would acknowledge what is in hand."""
    log.critical(message, *args, exc_info=exc_info)
    logging.shutdown()
    os._exit(status)


async def partition_count(bootstrap: str, topic: str) -> int | None:
    """How many partitions a topic has on the broker (None if it does not exist yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # describing a missing topic could have the broker create it, with its default count
        described = await admin.describe_topics([topic]) if topic in await admin.list_topics() else []
    finally:
        await admin.close()
    found = [d for d in described if d["topic"] == topic and not d["error_code"]]
    return len(found[0]["partitions"]) if found else None
