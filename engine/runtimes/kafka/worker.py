"""`nudge worker`: the engine on Kafka with faust-streaming.

One agent consumes the events topic (keyed by customer), keeps customer states, seen ids
and timers in tables backed by changelog topics, and produces outcome records and outbox
messages. Durable timers: a `pending` table (timer id -> due) is the truth; a `due_index`
table of per-partition minute buckets lets every worker's one-second tick find what is due
on its own partitions and send a `fire` envelope to that partition, where the agent pops
the timer idempotently and runs the step. Processing is at-least-once with idempotent
handlers: repeated event ids and timer ids do nothing the second time, and the table
writes that mark an input done are applied only after its outputs are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import faust
import orjson

from engine import state_codec
from engine.effects import Diagnostic, Dispatch, Effect, Output, Schedule, Timer
from engine.links import SignedLinks
from engine.machine import Engine
from engine.runtimes.embedded.processor import epoch, from_epoch
from engine.runtimes.kafka import envelopes as env
from engine.runtimes.kafka.store import FaustStore, Writes
from rules.workspace import load_workspace

log = logging.getLogger("nudge.worker")

REQUEST_AGAIN_AFTER = 30.0  # a fire request not acted on by then is sent again


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:9092"
    partitions: int = 8
    app_id: str = "nudge"
    store: str = "memory://"
    data_dir: str = ".nudge-worker"
    link_secret: str = "change-me"
    public_url: str = "http://127.0.0.1:8080"
    session_timeout: float = 30.0  # how soon partitions of a dead worker move to the living

    def topic(self, name: str) -> str:
        """Topics are named after the app id, so several deployments can share a cluster."""
        return f"{self.app_id}.{name}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> KafkaSettings:
        return cls(
            bootstrap=environ.get("NUDGE_KAFKA_BOOTSTRAP", cls.bootstrap),
            partitions=int(environ.get("NUDGE_KAFKA_PARTITIONS", cls.partitions)),
            app_id=environ.get("NUDGE_KAFKA_APP_ID", cls.app_id),
            store=environ.get("NUDGE_KAFKA_STORE", cls.store),
            data_dir=environ.get("NUDGE_KAFKA_DATA_DIR", cls.data_dir),
            link_secret=environ.get("NUDGE_LINK_SECRET", cls.link_secret),
            public_url=environ.get("NUDGE_PUBLIC_URL", cls.public_url),
            session_timeout=float(environ.get("NUDGE_KAFKA_SESSION_TIMEOUT", cls.session_timeout)),
        )


def bucket_key(partition: int, due: float) -> str:
    return f"{partition}:{int(due // 60)}"


def create_worker(workspace_root: Path, settings: KafkaSettings) -> faust.App:
    workspace = load_workspace(workspace_root).workspace
    links = SignedLinks(settings.link_secret.encode(), settings.public_url)
    app = faust.App(
        settings.app_id, broker=f"kafka://{settings.bootstrap}", store=settings.store, datadir=settings.data_dir,
        topic_partitions=settings.partitions, topic_replication_factor=1, processing_guarantee="at_least_once",
        producer_acks=-1, web_enabled=False, table_standby_replicas=0, consumer_auto_offset_reset="earliest",
        key_serializer="raw", value_serializer="raw",
        broker_session_timeout=settings.session_timeout, broker_heartbeat_interval=settings.session_timeout / 10,
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
    customers = app.Table("customers", **raw)
    seen = app.Table("seen", **raw)
    pending = app.Table("pending", **raw)
    due_index = app.Table("due_index", **raw)
    aliases = app.GlobalTable("aliases", **raw)
    suppressions = app.GlobalTable("suppressions", **raw)
    requested: dict[str, float] = {}

    def index(writes: Writes, partition: int, due: float, timer_id: str, add: bool) -> None:
        key = bucket_key(partition, due).encode()
        current = writes.get(due_index, key)
        ids = set(orjson.loads(current)) if current else set()
        (ids.add if add else ids.discard)(timer_id)
        if ids:
            writes.set(due_index, key, orjson.dumps(sorted(ids)))
        else:
            writes.delete(due_index, key)

    class Outputs:
        """Records sent in one call; `flush` waits until the broker has every one."""

        def __init__(self) -> None:
            self.acks: list[Any] = []

        async def send(self, topic: Any, key: str, value: bytes) -> None:
            self.acks.append(await topic.send(key=key.encode(), value=value))

        async def flush(self) -> None:
            await asyncio.gather(*self.acks)

    async def apply(effects: list[Effect], writes: Writes, out: Outputs, partition: int, origin: float) -> None:
        for effect in effects:
            if isinstance(effect, Output):
                r = effect.record
                await out.send(records, str(r.get("customer_id") or r.get("anonymous_id") or ""), orjson.dumps(r))
            elif isinstance(effect, Dispatch):
                m = effect.message
                await out.send(outbox, m.id, orjson.dumps({**asdict(m), "origin": origin}))
            elif isinstance(effect, Schedule):
                t = effect.timer
                writes.set(pending, t.id.encode(), orjson.dumps(
                    {"due": epoch(t.due), "key": t.key, "kind": t.kind, "journey": t.journey, "token": t.token}))
                index(writes, partition, epoch(t.due), t.id, add=True)
            elif isinstance(effect, Diagnostic):
                log.warning("journey %s step %s customer %s: %s", effect.journey, effect.step, effect.customer_id,
                            effect.message)

    async def handle(data: bytes, partition: int) -> None:
        """Outputs first, acknowledged; only then the table writes that mark the input done."""
        writes, out = Writes(), Outputs()
        await route(env.parse(data), data, partition, writes, out)
        await out.flush()
        writes.apply()
        # the changelog records must be on the broker before this input's offset can be
        # committed, or a worker killed now would lose its new timers and state
        await app.producer.flush()

    async def route(envelope: dict[str, Any], data: bytes, partition: int, writes: Writes, out: Outputs) -> None:
        store = FaustStore(customers, seen, aliases, suppressions, partition, settings.partitions, writes)
        engine = Engine(workspace, store, links)
        kind = envelope["kind"]
        effects: list[Effect] = []
        origin = time.time()
        if kind == env.EVENT:
            event = env.event_of(envelope)
            linked = store.alias(event.anonymous_id) if event.customer_id is None and event.anonymous_id else None
            if linked:  # the anonymous profile was handed over: its events follow it
                await out.send(events, linked, data)
                return
            origin = float(envelope.get("received_at") or origin)
            late = epoch(event.timestamp) < origin - workspace.settings.late_events.total_seconds()
            effects = engine.handle_event(event, late=late)
        elif kind == env.FIRE:
            timer = env.timer_of(envelope)
            if not envelope.get("forwarded"):
                if writes.get(pending, envelope["id"].encode()) is None:
                    return  # fired already: a repeated request
                writes.delete(pending, envelope["id"].encode())
                index(writes, partition, envelope["due"], envelope["id"], add=False)
            requested.pop(envelope["id"], None)
            linked = store.alias(timer.key[5:]) if timer.key.startswith("anon:") else None
            if linked:
                await out.send(events, linked, orjson.dumps({**envelope, "forwarded": True}))
                return
            origin = envelope["due"]
            effects = engine.fire(timer, timer.due)
        elif kind == env.HAND_OVER:
            key = f"anon:{envelope['anonymous_id']}".encode()
            state = writes.get(customers, key)
            if state:
                writes.delete(customers, key)
                await out.send(events, envelope["customer_id"],
                               env.absorb_envelope(envelope["customer_id"], state, time.time()))
            return
        elif kind == env.ABSORB:
            anon = state_codec.loads(envelope["state"])
            effects = engine.absorb(envelope["customer_id"], anon, from_epoch(envelope["at"]))
        await apply(effects, writes, out, partition, origin)
        for anonymous_id, customer_id in store.links:
            await out.send(events, f"anon:{anonymous_id}", env.hand_over_envelope(anonymous_id, customer_id))

    @app.task  # type: ignore[untyped-decorator]
    async def declare_topics() -> None:
        """Output topics exist before the first send (the broker creates no topics by itself)."""
        for topic in (records, outbox):
            await topic.maybe_declare()

    @app.agent(events)
    async def process(stream: Any) -> None:
        async for event in stream.events():
            await handle(event.value, event.message.partition)

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        """On every worker, for its own partitions: ask for each due timer to be fired."""
        now = time.time()
        mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events.get_topic_name()}
        for key, ids in list(due_index.items()):
            partition, minute = (int(x) for x in key.decode().split(":"))
            if partition not in mine or minute * 60 > now or not ids:
                continue
            for timer_id in orjson.loads(ids):
                entry = pending.get(timer_id.encode())
                if entry is None or now - requested.get(timer_id, 0.0) < REQUEST_AGAIN_AFTER:
                    continue
                t = orjson.loads(entry)
                if t["due"] > now:
                    continue
                requested[timer_id] = now
                timer = Timer(from_epoch(t["due"]), t["key"], t["kind"], t["journey"], t["token"])
                await events.send(key=t["key"].encode(), value=env.fire_envelope(timer_id, timer), partition=partition)

    return app
