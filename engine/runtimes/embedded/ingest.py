"""Accepting events durably with group commit: many HTTP requests, one SQLite transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Callable

from engine.events import Event
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.processor import event_to_row


@dataclass(frozen=True)
class Accepted:
    accepted: int
    duplicates: int


class Ingest:
    """`submit` returns only after the events are committed; a repeated id is a duplicate."""

    def __init__(self, conn: sqlite3.Connection, wall_clock: Callable[[], float], on_commit: Callable[[], None],
                 max_batch: int = 5000) -> None:
        self.conn = conn
        self.clock = wall_clock
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.queue: asyncio.Queue[tuple[list[Event], asyncio.Future[Accepted]]] = asyncio.Queue()

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
            try:
                counts = await asyncio.to_thread(self._write, [events for events, _ in batch])
            except Exception as exc:  # the callers get the error; nothing was committed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), accepted in zip(batch, counts):
                if not future.done():
                    future.set_result(accepted)
            self.on_commit()

    def _write(self, requests: list[list[Event]]) -> list[Accepted]:
        received = self.clock()
        results = []
        with transaction(self.conn):
            for events in requests:
                cursor = self.conn.executemany(
                    "INSERT OR IGNORE INTO events (id, customer, received_at, timestamp, body) VALUES (?, ?, ?, ?, ?)",
                    [(e.id, e.customer_id or f"anon:{e.anonymous_id}", received, e.timestamp.isoformat(), event_to_row(e))
                     for e in events])
                results.append(Accepted(cursor.rowcount, len(events) - cursor.rowcount))
        return results
