"""Broadcasts on Kafka (SPEC §13): each worker selects the audience of the partitions it owns.

The API sends one `broadcast` envelope to every partition of the events topic, keyed by a name
that falls on that partition; that key's record keeps the broadcast's start as a timer. When it
fires, the partition's customers are planned: each gets its entry timer in its own record (it
fires like any other), with the throttle shared out between the partitions; the record then keeps
a mark until the last wave, and a customer first known on that partition meanwhile joins when their
own moment is still to come (as in the embedded runtime and simulate). A cancel drops the
entries not yet made and ends the instances in flight. Each is one input of one partition: a
record that already carries the input's offset was planned before a crash, and is not twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator

from engine import broadcasts
from engine.effects import Effect, Schedule, Timer, TimerKind
from engine.model import Journey
from engine.runtimes.kafka.batch import Batch
from engine.runtimes.kafka.store import FaustStore, Record, partition_for, timer_to_json
from engine.runtimes.kernel.codecs import epoch, from_epoch
from engine.state import ANON, CustomerState

if TYPE_CHECKING:
    from engine.runtimes.kafka.router import Router

log = logging.getLogger("nudge.worker")

PREFIX = "broadcast:"
START, CANCEL = "start", "cancel"
OPEN = "open"  # the token of a started broadcast's mark in its record: newcomers may join until its last wave


def control_key(broadcast_id: str, partition: int, partitions: int) -> str:
    """The key of the broadcast's record on `partition`: the first of its names Kafka's partitioner puts there."""
    n = 0
    while partition_for(key := f"{PREFIX}{broadcast_id}:{n}", partitions) != partition:
        n += 1
    return key


def _token(now: bool, partitions: int) -> str:
    return f"{START}:{int(now)}:{partitions}"


def is_start(timer: Timer) -> bool:
    """A timer of a broadcast's own record: its start, or the end of its time open to newcomers."""
    return timer.kind == TimerKind.BROADCAST and timer.key.startswith(PREFIX)


def receive(router: Router, envelope: dict[str, Any], store: FaustStore, partition: int, offset: int,
            batch: Batch) -> None:
    """A start becomes a timer in the broadcast's record; a cancel is carried out on this partition now."""
    broadcast_id = envelope["id"]
    if envelope["action"] == START:
        timer = Timer(from_epoch(envelope["start"]), store.key, TimerKind.BROADCAST, broadcast_id,
                      _token(bool(envelope["now"]), int(envelope["partitions"])))
        store.record.timers[timer.id] = timer_to_json(timer)
        batch.timers.append((partition, envelope["start"], timer.id, store.key))
        return
    store.record.timers.clear()  # not started yet: it never will
    _cancel(router, broadcast_id, int(envelope["partitions"]), partition, offset, batch,
            from_epoch(router.clock()))


def start(router: Router, timer: Timer, control: FaustStore, partition: int, offset: int, batch: Batch) -> None:
    """The start came: every customer of this partition in the audience gets an entry timer, and the broadcast's
    record (`control`) is marked open to newcomers until its last wave (not one started with `--now`)."""
    if not timer.token.startswith(START):  # its last wave has gone: the mark goes, nothing else to do
        return
    journey = _journey(router, timer.journey, partition)
    if journey is None:
        return
    _, now, partitions = timer.token.split(":")
    closes = broadcasts.last_wave(broadcasts.schedule_of(journey))
    if now == "0" and closes > timer.due:
        mark = Timer(closes, timer.key, TimerKind.BROADCAST, journey.id, OPEN)
        control.record.timers[mark.id] = timer_to_json(mark)
        batch.timers.append((partition, epoch(closes), mark.id, timer.key))
    if now == "1":
        journey = broadcasts.starting_now(journey, timer.due)
    journey = broadcasts.sharing_the_throttle(journey, int(partitions))
    states = [record.state for _, record in _customers(router, partition, int(partitions), offset, batch)
              if record.state is not None]
    planned = 0
    for effect in broadcasts.plan(journey, states, router.live.workspace(partition).settings, timer.due):
        if isinstance(effect, Schedule):
            entry = effect.timer
            store = FaustStore(router.tables).open(entry.key, partition, offset, batch.writes)
            store.record.timers[entry.id] = timer_to_json(entry)
            batch.timers.append((partition, epoch(entry.due), entry.id, entry.key))
            store.save(offset)
            planned += 1
    log.info("broadcast %s started on partition %d: %d customers planned", journey.id, partition, planned)


def newcomer(router: Router, state: CustomerState, partition: int, batch: Batch, at: datetime) -> list[Effect]:
    """A customer first known now: an entry timer in each broadcast started on this partition and still open,
    whose moment for them is still to come (as the embedded runtime and simulate do)."""
    effects: list[Effect] = []
    workspace = router.live.workspace(partition)
    for journey in workspace.broadcasts:
        if broadcasts.last_wave(broadcasts.schedule_of(journey)) <= at:
            continue
        data = batch.writes.get(router.tables.customers,
                                control_key(journey.id, partition, router.partitions).encode())
        if data and any(t["kind"] == TimerKind.BROADCAST and t["token"].startswith(OPEN)
                        for t in Record.header(data)["timers"].values()):
            effects += broadcasts.newcomer(journey, state, workspace.settings, at)
    return effects


def _cancel(router: Router, broadcast_id: str, partitions: int, partition: int, offset: int, batch: Batch,
            now: datetime) -> None:
    for key, record in _customers(router, partition, partitions, offset, batch):
        waiting = [tid for tid, t in record.timers.items()
                   if t["kind"] == TimerKind.BROADCAST and t["journey"] == broadcast_id]
        inside = record.state is not None and broadcast_id in record.state.instances
        if not waiting and not inside:
            continue
        store = FaustStore(router.tables).open(key, partition, offset, batch.writes)
        for tid in waiting:
            del store.record.timers[tid]
        engine = router.engine(router.live.workspace(partition), store, router.links)
        router.apply_effects(engine.cancel(key, broadcast_id, now), store, batch, partition, epoch(now))
        store.save(offset)


def _customers(router: Router, partition: int, partitions: int, offset: int,
               batch: Batch) -> Iterator[tuple[str, Record]]:
    """The known customers of one partition as this batch sees them, but those this input changed already."""
    for raw_key in list(router.tables.customers.keys()):
        key = raw_key.decode()
        if key.startswith((PREFIX, ANON)) or partition_for(key, partitions) != partition:
            continue
        data = batch.writes.get(router.tables.customers, raw_key)
        if not data:
            continue
        record = Record.decode(data)
        if record.offset < offset and record.moved_to is None:
            yield key, record


def _journey(router: Router, broadcast_id: str, partition: int) -> Journey | None:
    journey = next((j for j in router.live.workspace(partition).broadcasts if j.id == broadcast_id), None)
    if journey is None:
        log.error("broadcast %s is not in the workers' workspace: nothing sent", broadcast_id)
    return journey
