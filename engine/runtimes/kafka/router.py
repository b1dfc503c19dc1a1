"""What one input on the events topic does: the engine's turn for the customer it is keyed by,
and the envelopes that carry work to other partitions (hand-overs, forwards, erasures).

Kept apart from the faust wiring (worker.py) so that it runs, and is tested, on plain
mappings: it reads and writes only through the batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from engine import state_codec
from engine.effects import Diagnostic, Effect, Exposure, Message, Timer
from engine.events import Event
from engine.links import SignedLinks
from engine.machine import Engine
from engine.model import Workspace
from engine.ports import Links, Store
from engine.experiments import Experiment, ExperimentKey, Ledger, experiments_of
from engine.runtimes.kafka import broadcasts, envelopes as env
from engine.runtimes.kafka import winners
from engine.runtimes.kernel import applier, codecs, ordering
from engine.runtimes.kernel.codecs import epoch, from_epoch
from engine.runtimes.kafka.batch import Batch
from engine.runtimes.kafka.live import LiveWorkspace
from engine.runtimes.kafka.store import FaustStore, Record, Tables, timer_from_json, timer_to_json
from engine.state import ANON, anon_key

log = logging.getLogger("nudge.worker")


@dataclass(frozen=True)
class Topics:
    events: str
    records: str
    outbox: str
    dead_letters: str


EngineFactory = Callable[[Workspace, Store, Links], Engine]
"""Builds the engine of one workspace version: `Engine` itself, or a test's stand-in."""


@dataclass(frozen=True)
class Version:
    """What the router takes from one workspace version, once: its engine (on the router's store, which each
    input re-opens), whether it has broadcasts, and its judged content tests and splits."""

    name: str
    workspace: Workspace
    engine: Engine
    broadcasts: bool
    experiments: dict[ExperimentKey, Experiment]


class Router:
    def __init__(self, tables: Tables, live: LiveWorkspace, links: SignedLinks, topics: Topics, partitions: int,
                 engine: EngineFactory = Engine, clock: Callable[[], float] = time.time) -> None:
        self.tables, self.live, self.links, self.topics = tables, live, links, topics
        self.partitions = partitions  # of the events topic: where each broadcast's record is
        self.engine, self.clock = engine, clock
        self.store = FaustStore(tables)  # opened for each input in turn
        self._versions: dict[str, Version] = {}

    def route(self, data: bytes, key: str, partition: int, offset: int, batch: Batch) -> None:
        """Handles the input at `offset` of `partition`, keyed `key`; raises if it cannot."""
        envelope = env.parse(data)
        live, topics = self.live, self.topics
        if envelope["kind"] == env.APPLY:  # no record: the partition itself switches here (done again, a no-op)
            live.switch(partition, offset, envelope["version"], bool(envelope.get("reschedule")), batch.writes)
            return
        if envelope["kind"] == env.WINNER:
            self._winner(envelope, partition, batch)
            return
        store = self.store.open(key, partition, offset, batch.writes)
        if store.record.offset >= offset:  # applied before a crash; its outputs went out then
            store.save_again()
            return
        prepared = self.version(partition)
        workspace, version, engine = prepared.workspace, prepared.name, prepared.engine
        kind = envelope["kind"]
        effects: list[Effect] = []
        provider: Event | None = None   # the input's event, for the content tests' tallies
        origin = self.clock()
        if store.record.version != version:  # placed for another version of the journeys
            if store.record.state is not None and store.record.state.instances:
                effects = engine.migrate(key, from_epoch(origin), live.edit(store.record.version, partition))
            store.record.version = version
        if kind == env.EVENT:
            origin = float(envelope.get("received_at") or origin)  # its journey time (SPEC §14)
            accepted = from_epoch(origin)
            event = env.event_of(envelope, accepted)
            if store.record.moved_to is not None:  # a handed-over anonymous profile: its events follow it
                if event.id is None or not store.seen(event.id):  # not one it took before the hand-over
                    batch.send(topics.events, store.record.moved_to, env.forward_envelope(
                        envelope, f"forward:{partition}:{offset}"))
                store.save(offset)
                return
            if "forward_id" in envelope:
                if store.seen(envelope["forward_id"]):
                    return  # forwarded twice: the anonymous profile's input was processed again
                store.remember(envelope["forward_id"])
                store.owns = event.anonymous_id
            late = ordering.is_late(event, workspace)
            new = store.record.state is None
            effects += engine.handle_event(event, late=late)
            if (event.anonymous_id is not None and event.customer_id == key and not store.links
                    and event.anonymous_id not in store.record.handed and store.linked(event.anonymous_id) == key):
                # linked, but the record does not say the hand-over was asked for: this very input, taken again
                # after a crash that wrote the alias but not the hand-over (they are written out side by side),
                # or a record written before `handed` was kept. Asked again: the anonymous record takes the
                # first hand-over and passes over the rest
                store.links.append((event.anonymous_id, key))
            if (prepared.broadcasts and new and (state := store.record.state) is not None
                    and state.customer_id is not None):
                effects += broadcasts.newcomer(self, state, partition, batch, accepted)
            provider = event
        elif kind == env.FIRE:
            entry = store.record.timers.get(envelope["id"])
            if entry is None:
                return  # fired already: a repeated request
            timer = timer_from_json(entry)
            if timer.key.startswith(ANON) and timer.key != key:
                store.owns = timer.key[len(ANON):]  # it came with the anonymous profile
            elif timer.key.startswith(ANON) and store.linked(timer.key[len(ANON):]):
                return  # linked: the hand-over on its way here takes the timer to the customer
            del store.record.timers[envelope["id"]]
            origin = entry["due"]
            if broadcasts.is_start(timer):  # a broadcast's start: this partition's audience is planned
                broadcasts.start(self, timer, store, partition, offset, batch)
            else:
                effects += engine.fire(timer, timer.due)
        elif kind == env.HAND_OVER:
            if store.record.moved_to is None:  # first come, first served, as in simulate
                if store.record.state is not None:
                    batch.send(topics.events, envelope["customer_id"], env.absorb_envelope(
                        f"absorb:{key}:{partition}:{offset}", envelope["customer_id"],
                        state_codec.dumps(store.record.state), store.record.timers, store.record.version,
                        self.clock()))
                # the husk keeps the ids the profile took: a repeat of one is not forwarded
                store.record = Record(moved_to=envelope["customer_id"], seen=store.record.seen)
        elif kind == env.ABSORB:
            if store.seen(envelope["id"]):
                return
            store.remember(envelope["id"])
            effects += engine.absorb(key, state_codec.loads(envelope["state"]), from_epoch(envelope["at"]))
            if envelope.get("version") != version:  # its instances were placed for other journeys
                effects += engine.migrate(key, from_epoch(origin), live.edit(envelope.get("version"), partition))
            store.record.timers.update(envelope["timers"])
            batch.timers.extend((partition, t["due"], tid, key) for tid, t in envelope["timers"].items())
        elif kind == env.BROADCAST:
            broadcasts.receive(self, envelope, store, partition, offset, batch)
        elif kind == env.ERASE:
            for alias in store.aliases_of(key):
                batch.writes.delete(self.tables.aliases, alias.encode())
                batch.send(topics.events, anon_key(alias), env.erase_envelope(anon_key(alias)))  # and its husk
            batch.record([{"type": "erased", "customer_id": key}])
            store.erase()
            return
        self.apply_effects(effects, store, batch, partition, origin)
        self._track(store, provider, effects, batch, prepared.experiments, offset)
        for anonymous_id, customer_id in store.links:
            batch.send(topics.events, anon_key(anonymous_id), env.hand_over_envelope(anonymous_id, customer_id))
            if anonymous_id not in store.record.handed:
                store.record.handed.append(anonymous_id)
        store.save(offset)

    def _winner(self, envelope: dict[str, Any], partition: int, batch: Batch) -> None:
        """A content test's winner reaches this partition: its later sends use it (winners.py)."""
        table = self.tables.experiments
        if table is not None and (record := winners.take(batch.writes, table, envelope, partition)) is not None:
            batch.record([record])

    def version(self, partition: int) -> Version:
        """The version `partition` runs, with what the router takes from it (made at its first input)."""
        name, workspace = self.live.version(partition), self.live.workspace(partition)
        found = self._versions.get(name)
        if found is None or found.workspace is not workspace:  # a worker's workspaces were loaded again
            found = self._versions[name] = Version(name, workspace, self.engine(workspace, self.store, self.links),
                                                   bool(workspace.broadcasts), experiments_of(workspace))
        return found

    def experiments(self, partition: int) -> dict[ExperimentKey, Experiment]:
        """The judged content tests and splits of the version `partition` runs, found once per version."""
        return self.version(partition).experiments

    def _track(self, store: FaustStore, event: Event | None, effects: list[Effect], batch: Batch,
               experiments: dict[ExperimentKey, Experiment], offset: int) -> None:
        """The customer's exposures and their opens, clicks and conversions, into the partition's tallies."""
        table = self.tables.experiments
        if table is None or not experiments or (store.record.tests is None and not any(
                isinstance(e, Exposure) for e in effects)):
            return
        ledger = Ledger.load(experiments, store.record.tests)
        winners.track(ledger, event, effects, batch.writes, table, store.partition, offset)
        store.record.tests = ledger.dump()

    def quarantine(self, message: Any, exc: Exception, batch: Batch) -> None:
        """The input goes to the dead letters as it came; a timer that failed to fire is dropped
        with it (its copy is the dead letter), or it would be asked for again and again."""
        batch.send(self.topics.dead_letters, message.key, message.value, [
            ("error", f"{type(exc).__name__}: {exc}".encode()),
            ("source", f"{message.topic}:{message.partition}:{message.offset}".encode())])
        try:
            envelope = env.parse(message.value)
            if envelope.get("kind") == env.FIRE:
                store = FaustStore(self.tables).open(message.key.decode(), message.partition, message.offset, batch.writes)
                if store.record.timers.pop(str(envelope.get("id")), None) is not None:
                    store.save(message.offset)
        except Exception:  # not even that much can be read: nothing to drop
            return

    def apply_effects(self, effects: list[Effect], store: FaustStore, batch: Batch, partition: int,
                      origin: float) -> None:
        """Outbox messages one by one (keyed by message id); the records with the batch's (outcomes.py)."""
        sink = _Sends(store, batch, partition, origin)
        applier.apply(effects, sink)
        batch.record(sink.records)
        for message_id, value in sink.messages:
            batch.send(self.topics.outbox, message_id, value)


class _Sends:
    """One input's effects: records and messages to send, timers into its customer's record."""

    def __init__(self, store: FaustStore, batch: Batch, partition: int, origin: float) -> None:
        self.store, self.batch, self.partition, self.origin = store, batch, partition, origin
        self.records: list[dict[str, Any]] = []
        self.messages: list[tuple[str, bytes]] = []

    def record(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def dispatch(self, message: Message) -> None:
        payload = codecs.message_payload(message)
        payload["origin"] = self.origin
        self.messages.append((message.id, orjson.dumps(payload)))

    def schedule(self, timer: Timer) -> None:
        self.store.record.timers[timer.id] = timer_to_json(timer)
        self.batch.timers.append((self.partition, epoch(timer.due), timer.id, self.store.key))

    def unschedule(self, timer_id: str) -> None:
        """Out of the record: the due index's entry for it is then passed over (the worker checks the record)."""
        self.store.record.timers.pop(timer_id, None)

    def diagnose(self, diagnostic: Diagnostic) -> None:
        log.warning("journey %s step %s customer %s: %s", diagnostic.journey, diagnostic.step,
                    diagnostic.customer_id, diagnostic.message)

    def expose(self, exposure: Exposure) -> None:
        """Tallied after the input, from its effects (Router._track)."""
