"""Content-test winners on Kafka (SPEC §11): tallies per partition, one decision, applied at one offset per partition.

- A customer's record keeps that customer's exposures (a one-customer `Ledger`). After each
  input, the change in its arms is added to its partition's tally in the `experiments` global
  table (`t|journey|step|partition`), with the input's offset: an input processed again after a
  crash adds nothing twice (a partition's inputs come in offset order).
- The worker that owns partition 0 sums every partition's tally at the experiment's checks
  (`after` past the earliest exposure, then daily, 30 days at most; SPEC §11) and, once
  decided, sends a `winner` envelope to every partition of the events topic.
- Each partition takes that envelope in its own order: from its offset on, that partition's sends
  use the winner (`w|journey|step|partition`); partition 0 also writes the `winner` record.
  A repeated envelope changes nothing, so a decider that restarts may send it again.
"""

from __future__ import annotations

from dataclasses import astuple
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

import orjson

from engine.effects import Effect, Exposure, Output
from engine.events import Event
from engine.experiments import Arm, Decision, Experiment, ExperimentKey, Ledger, decide, first_check
from engine.runtimes.kafka.store import SEP, Table, Writes, winner_key
from engine.runtimes.kernel.codecs import epoch, from_epoch

DAY = timedelta(days=1)


def tally_key(journey: str, step: str, partition: int) -> bytes:
    return SEP.join(("t", journey, step, str(partition))).encode()


def _arms(ledger: Ledger) -> dict[ExperimentKey, dict[str, Arm]]:
    return {key: ledger.arms(key) for key in ledger.started}


def track(ledger: Ledger, event: Event | None, effects: Iterable[Effect], writes: Writes, table: Table,
          partition: int, offset: int) -> None:
    """Feed one input (its provider event, then its effects) to the customer's ledger and add the change
    in each arm to the partition's tally."""
    before = _arms(ledger)
    if event is not None:
        ledger.event(event.type, event.properties)
    for effect in effects:
        match effect:
            case Exposure():
                ledger.expose(effect.journey, effect.step, effect.arm, effect.customer, effect.message_id, effect.at)
            case Output(record=record):
                ledger.record(record)
    for key, arms in _arms(ledger).items():
        old = before.get(key, {})
        change = {name: [a - b for a, b in zip(astuple(arm), astuple(old.get(name, Arm())))] for name, arm in arms.items()}
        if any(any(v) for v in change.values()):
            _add(writes, table, tally_key(*key, partition), change, ledger.started[key], offset)


def _add(writes: Writes, table: Table, key: bytes, change: Mapping[str, list[float]], started: datetime,
         offset: int) -> None:
    raw = writes.get(table, key)
    tally: dict[str, Any] = orjson.loads(raw) if raw else {"offset": -1, "started": epoch(started), "arms": {}}
    if tally["offset"] >= offset:
        return   # added before a crash: this input is being processed again
    for name, delta in change.items():
        tally["arms"][name] = [a + b for a, b in zip(tally["arms"].get(name, [0] * len(delta)), delta)]
    tally["offset"], tally["started"] = offset, min(tally["started"], epoch(started))
    writes.set(table, key, orjson.dumps(tally))


def take(writes: Writes, table: Table, envelope: Mapping[str, Any], partition: int) -> dict[str, Any] | None:
    """A `winner` envelope reaches a partition: its sends use the winner from here on. Returns the
    `winner` record to write (partition 0's, the first time), else None."""
    key = winner_key(envelope["journey"], envelope["step"], partition)
    if writes.get(table, key) is not None:
        return None
    writes.set(table, key, str(envelope["variant"]).encode())
    if partition != 0:
        return None
    return {k: envelope[k] for k in ("at", "journey", "type", "step", "variant", "metric", "reason")}


class Decider:
    """The checks of every experiment, made by the worker that owns partition 0 from the tallies of all."""

    def __init__(self) -> None:
        self.checked: set[tuple[ExperimentKey, datetime]] = set()
        self.sent: set[ExperimentKey] = set()

    def due(self, experiments: Mapping[ExperimentKey, Experiment], table: Iterable[tuple[bytes, bytes]],
            now: datetime) -> list[Decision]:
        """The decisions to announce now: each experiment's latest check that has passed, taken once."""
        tallies: dict[ExperimentKey, tuple[datetime, dict[str, Arm]]] = {}
        decided: set[ExperimentKey] = set()
        for raw_key, value in table:
            kind, journey, step, _ = raw_key.decode().split(SEP)
            if kind == "w":
                decided.add((journey, step))
                continue
            tally = orjson.loads(value)
            started, arms = tallies.get((journey, step), (from_epoch(tally["started"]), {}))
            for name, numbers in tally["arms"].items():
                arms[name] = Arm(*(a + b for a, b in zip(astuple(arms.get(name, Arm())), numbers)))
            tallies[(journey, step)] = (min(started, from_epoch(tally["started"])), arms)
        found = []
        for key, (started, arms) in tallies.items():
            experiment = experiments.get(key)
            if experiment is None or experiment.rule is None or key in decided or key in self.sent:
                continue
            at = latest_check(experiment, started, now)
            if at is None or (key, at) in self.checked:
                continue
            self.checked.add((key, at))
            decision = decide(experiment, {**{n: Arm() for n in experiment.arms}, **arms}, started, at)
            if decision.winner is not None:
                self.sent.add(key)
                found.append(decision)
        return found


def latest_check(experiment: Experiment, started: datetime, now: datetime) -> datetime | None:
    """The latest of the experiment's checks at or before `now` (None before the first)."""
    assert experiment.rule is not None
    first = first_check(experiment.rule, started)
    if now < first:
        return None
    last = started + max(experiment.rule.after, timedelta(days=30))
    return min(first + DAY * ((now - first) // DAY), last)
