"""Turns at a database's write lock between the writers of one process.

SQLite has no queue for its write lock: a writer that finds it taken sleeps (up to 100 ms between tries)
and tries again, so a long series of transactions run back to back (a big broadcast's start, planned a
chunk a transaction) would keep the ingest, the dispatcher and the API out. Each connection of a file
(`database.connect`) counts the writers waiting for its lock, and the series gives way between two of
its transactions only when some are waiting: an idle server never pauses.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class WriteTurns:
    """The writers of one database file in this process: how many wait for its write lock now."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.waiting = 0    # inside BEGIN IMMEDIATE, the lock not yet theirs
        self.served = 0     # BEGIN IMMEDIATEs that returned (the lock had, or given up on)
        self.given_way = 0  # pauses a series of transactions made for waiting writers
        self.writer = threading.RLock()  # held from BEGIN IMMEDIATE to COMMIT (database.transaction): writers queue here

    @contextmanager
    def asking(self) -> Iterator[None]:
        """Around a BEGIN IMMEDIATE: counted as waiting until it returns."""
        with self._changed:
            self.waiting += 1
        try:
            yield
        finally:
            with self._changed:
                self.waiting -= 1
                self.served += 1
                self._changed.notify_all()

    def give_way(self, patience: float) -> bool:
        """Called with the lock free, between two transactions of a series: when writers are waiting, wait until
        as many have had the lock (at most `patience` seconds), so that they write before the series goes on.
        False, at once, when none is waiting."""
        with self._changed:
            if not self.waiting:
                return False
            self.given_way += 1
            until = self.served + self.waiting
            self._changed.wait_for(lambda: self.served >= until, patience)
            return True


class Connection(sqlite3.Connection):
    """A connection that knows the turns of its database file (`transaction` counts its waits there) and its
    busy timeout, the longest its writer waits for its turn in this process too."""

    busy_timeout: float = 30.0

    def __init__(self, path: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(path, *args, **kwargs)
        self.turns = turns_of_file(path)


_FILES: dict[str, WriteTurns] = {}
_FILES_LOCK = threading.Lock()


def turns_of_file(path: str | Path) -> WriteTurns:
    """One WriteTurns per database file in this process, whichever name the file is opened by."""
    name = os.path.realpath(path)
    with _FILES_LOCK:
        return _FILES.setdefault(name, WriteTurns())


def turns_of(conn: sqlite3.Connection) -> WriteTurns:
    """The turns `conn` takes part in (a connection not made by `database.connect` waits alone)."""
    return conn.turns if isinstance(conn, Connection) else WriteTurns()
