"""Winner checks of `nudge run` (SPEC §11): exposures kept in the database, tallies rebuilt from it at each check.

The first exposure of an experiment inserts its row and its first check, a `winner` row of the
timers table: it fires in journey-time order with the other timers and survives a restart.
A check reads the experiment's exposures, the records of the customers exposed (entries, sends,
conversions) and their provider events, replays them into a `Ledger` in journey-time order, and
either records the winner or sets the next check.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime
from typing import Any, Iterator, Mapping, Sequence

import orjson

from engine.effects import Exposure, Timer, TimerKind
from engine.experiments import CLICKED_EVENTS, OPENED_EVENTS, Decision, Experiment, ExperimentKey, Ledger, first_check
from engine.runtimes.kernel.codecs import epoch, from_epoch
from rules.events import parse_timestamp

CHUNK = 500   # customers per lookup: SQLite's limit on bound parameters is far above it
_ENTERED, _EXPOSED, _SENT, _CONVERTED, _EVENT = range(5)   # at equal times: what happened first


def check_timer(journey: str, step: str, due: datetime) -> Timer:
    """The experiment's check as a timer row: no customer (`key` empty), the step as its token."""
    return Timer(due, "", TimerKind.WINNER, journey, step)


def timer_row(timer: Timer) -> tuple[Any, ...]:
    return (timer.id, epoch(timer.due), timer.key, timer.kind, timer.journey, timer.token)


def note(conn: sqlite3.Connection, exposures: Sequence[Exposure], experiments: Mapping[ExperimentKey, Experiment]) -> None:
    """Keep a batch's exposures; an experiment's first one starts it and sets its first check."""
    conn.executemany("INSERT INTO exposures VALUES (?, ?, ?, ?, ?, ?)",
                     [(e.journey, e.step, e.arm, e.customer, e.message_id, epoch(e.at)) for e in exposures])
    for e in exposures:
        experiment = experiments.get((e.journey, e.step))
        if experiment is None or experiment.rule is None:
            continue
        started = conn.execute("INSERT OR IGNORE INTO experiments (journey, step, started_at) VALUES (?, ?, ?)",
                               (e.journey, e.step, epoch(e.at)))
        if started.rowcount:
            conn.execute("INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?, ?, ?)",
                         timer_row(check_timer(e.journey, e.step, first_check(experiment.rule, e.at))))


def check(conn: sqlite3.Connection, experiment: Experiment, at: datetime) -> Decision | None:
    """The check due `at`; None when the experiment is decided already (or never started)."""
    key = (experiment.journey, experiment.step)
    row = conn.execute("SELECT winner FROM experiments WHERE journey = ? AND step = ?", key).fetchone()
    if row is None or row[0] is not None:
        return None
    ledger = Ledger({key: experiment})
    for _, _, item in sorted(_history(conn, experiment), key=lambda h: (h[0], h[1])):
        match item:
            case Exposure():
                ledger.expose(item.journey, item.step, item.arm, item.customer, item.message_id, item.at)
            case (str() as kind, dict() as properties):
                ledger.event(kind, properties)
            case dict():
                ledger.record(item)
    if key not in ledger.started:
        return None
    decision = ledger.decide(key, at)
    if decision.winner is not None:
        conn.execute("UPDATE experiments SET winner = ?, decided_at = ?, reason = ? WHERE journey = ? AND step = ?",
                     (decision.winner, epoch(at), decision.reason, *key))
    return decision


def _history(conn: sqlite3.Connection, experiment: Experiment) -> Iterator[tuple[float, int, Any]]:
    """(journey time, rank, item) of everything the tally reads: exposures, the exposed customers'
    records of this journey, and their provider events."""
    journey = experiment.journey
    customers: set[str] = set()
    started = math.inf
    for arm, customer, message_id, at in conn.execute(
            "SELECT arm, customer, message_id, at FROM exposures WHERE journey = ? AND step = ? ORDER BY rowid",
            (journey, experiment.step)):
        customers.add(customer)
        started = min(started, at)
        yield at, _EXPOSED, Exposure(journey, experiment.step, arm, customer, message_id, from_epoch(at))
    people = sorted(customers)
    for start in range(0, len(people), CHUNK):
        chunk = people[start:start + CHUNK]
        marks = ",".join("?" * len(chunk))
        ids = [c.removeprefix("anon:") for c in chunk]   # records name an anonymous customer by the bare id
        for (body,) in conn.execute(f"SELECT body FROM records WHERE customer IN ({marks}) AND journey = ? "
                                    "AND type IN ('entered', 'send', 'converted') ORDER BY seq", (*ids, journey)):
            record = orjson.loads(body)
            rank = {"entered": _ENTERED, "send": _SENT}.get(record["type"], _CONVERTED)
            yield parse_timestamp(record["at"]).timestamp(), rank, record
        for received_at, body in conn.execute(f"SELECT received_at, body FROM events WHERE customer IN ({marks}) "
                                              "AND received_at >= ? AND status != 'erased' ORDER BY seq",
                                              (*chunk, started)):   # an open comes after its message
            event = orjson.loads(body)
            if event.get("type") in OPENED_EVENTS | CLICKED_EVENTS:
                yield received_at, _EVENT, (event["type"], event.get("properties") or {})
