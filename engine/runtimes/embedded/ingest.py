"""Accepting events durably with group commit: many HTTP requests, one SQLite transaction."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any, Callable

import orjson

from engine.events import Event
from engine.runtimes.embedded.database import transaction
from engine.runtimes.kernel.codecs import from_epoch
from engine.runtimes.kernel.port import Accepted

log = logging.getLogger("nudge.ingest")

COLUMNS = 5  # id, customer, received_at, timestamp, body
CHUNKS = (256, 128, 64, 32, 16, 8, 4, 2, 1)  # rows per statement: any count in a few statements, all cached
_UNSTAMPED = b',"received_at":null}'  # how an unstamped event's bytes end: received_at is Event's last field


@cache
def insert_of(rows: int) -> str:
    """One statement for `rows` events: it steps once, where executemany steps once per event, each step
    giving up the interpreter lock and waiting to take it back behind the HTTP side's parsing."""
    return ("INSERT OR IGNORE INTO events (id, customer, received_at, timestamp, body) VALUES "
            + ",".join(["(?, ?, ?, ?, ?)"] * rows))


@dataclass(frozen=True)
class Prepared:
    """A request's rows built before the write lock, all but the stamp they take inside it: the columns of
    each event in turn, in timestamp order (stable: those accepted together are taken in the customer's order)."""

    values: list[Any]

    @classmethod
    def of(cls, events: list[Event]) -> Prepared:
        values: list[Any] = []
        for e in sorted(events, key=_timestamp):
            values += (e.id, e.customer_id or f"anon:{e.anonymous_id}", None, isoformat(e.timestamp), head(e))
        return cls(values)

    @property
    def rows(self) -> int:
        return len(self.values) // COLUMNS

    def params(self, received: float, tail: bytes) -> list[Any]:
        """The values with the stamp: `received` (epoch seconds) and, ending each body, its `tail`."""
        values = self.values.copy()
        values[2::COLUMNS] = [received] * self.rows
        values[4::COLUMNS] = [body + tail for body in self.values[4::COLUMNS]]
        return values


def _timestamp(event: Event) -> datetime:
    return event.timestamp


def isoformat(at: datetime) -> str:
    """`at.isoformat()`; in UTC (every parsed event's timestamp) as orjson writes it, the same text at a fifth of
    the cost (orjson leaves out an offset's seconds, which UTC has not)."""
    return orjson.dumps(at)[1:-1].decode() if at.tzinfo is timezone.utc else at.isoformat()


def _prepare(events: list[Event]) -> Prepared | Exception:
    """The rows, or why they cannot be built (a value orjson cannot write): that request fails alone."""
    try:
        return Prepared.of(events)
    except Exception as exc:
        return exc


class Ingest:
    """`submit` returns only after the events are committed; a repeated id is a duplicate.

    Every event is stamped `received_at` (its journey time, SPEC §14) inside the write lock and
    never earlier than the last one, so acceptance order (`seq`) is journey-time order."""

    def __init__(self, conn: sqlite3.Connection, wall_clock: Callable[[], float], on_commit: Callable[[], None],
                 max_batch: int = 5000) -> None:
        self.conn = conn
        self.clock = wall_clock
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.queue: asyncio.Queue[tuple[list[Event], asyncio.Future[Accepted]]] = asyncio.Queue()
        self._last_received: float | None = None
        most = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // COLUMNS  # 999 variables before SQLite 3.32
        self._chunks = [size for size in CHUNKS if size <= most]

    async def submit(self, events: list[Event]) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        await self.queue.put((events, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0][0])
            while not self.queue.empty() and size < self.max_batch:
                batch.append(self.queue.get_nowait())
                size += len(batch[-1][0])
            outcomes = await asyncio.to_thread(self._write, [events for events, _ in batch])
            for (_, future), outcome in zip(batch, outcomes):
                if future.done():
                    continue
                if isinstance(outcome, Accepted):
                    future.set_result(outcome)
                else:  # the caller gets the error; nothing of its request was committed
                    future.set_exception(outcome)
            if any(isinstance(outcome, Accepted) for outcome in outcomes):
                self.on_commit()

    def _write(self, requests: list[list[Event]]) -> list[Accepted | Exception]:
        """Each request's outcome: its rows are built before the write lock is taken, and those that could be
        are stored together."""
        prepared = [_prepare(events) for events in requests]
        stored = iter(self._store([p for p in prepared if isinstance(p, Prepared)]))
        return [next(stored) if isinstance(p, Prepared) else p for p in prepared]

    def _store(self, requests: list[Prepared]) -> list[Accepted | Exception]:
        """All requests in one transaction; when that fails, each in its own, so that one request's
        failure fails only that request."""
        if not requests:
            return []
        try:
            with transaction(self.conn):
                received = self._stamp()
                end = tail(from_epoch(received))
                return [self._insert(p, received, end) for p in requests]
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
            log.exception("a group commit failed; storing its %d requests one by one", len(requests))
        outcomes: list[Accepted | Exception] = []
        for p in requests:
            try:
                with transaction(self.conn):
                    received = self._stamp()
                    outcomes.append(self._insert(p, received, tail(from_epoch(received))))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _stamp(self) -> float:
        """The wall clock, never earlier than the last event accepted (a clock set back, a restart)."""
        if self._last_received is None:
            row = self.conn.execute("SELECT received_at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            self._last_received = float(row[0]) if row else 0.0
        self._last_received = max(self.clock(), self._last_received)
        return self._last_received

    def _insert(self, request: Prepared, received: float, end: bytes) -> Accepted:
        values, done, accepted = request.params(received, end), 0, 0
        for size in self._chunks:
            while request.rows - done >= size:
                chunk = values[done * COLUMNS:(done + size) * COLUMNS]
                accepted += self.conn.execute(insert_of(size), chunk).rowcount
                done += size
        return Accepted(accepted, request.rows - accepted)


def head(event: Event) -> bytes:
    """An event's stored bytes up to its stamp, which `tail` ends: `vars` in place of `asdict` (a dataclass's
    attributes are its fields, in their order), without building a second, stamped event."""
    unstamped = vars(event) if event.received_at is None else {**vars(event), "received_at": None}
    return orjson.dumps(unstamped)[:-len(_UNSTAMPED)]


def tail(received_at: datetime) -> bytes:
    return b',"received_at":' + orjson.dumps(received_at) + b"}"


def stored(event: Event, received_at: datetime) -> bytes:
    """`event_to_row(replace(event, received_at=received_at))`, the same bytes."""
    return head(event) + tail(received_at)
