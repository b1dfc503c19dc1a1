"""Turns at a database's write lock between the writers of one process.

SQLite has no queue for its write lock: a writer that finds it taken sleeps (up to 100 ms between tries)
and tries again, so a long series of transactions run back to back (a big broadcast's start, planned a
chunk a transaction) would keep the ingest, the dispatcher and the API out. Each connection of a file
(`database.connect`) counts the writers waiting for its lock, and the series gives way between two of
its transactions only when some are waiting: an idle server never pauses.

Between processes (`nudge run`'s engine process beside its API, a CLI command) the writers of a file take
turns the same way through two flock(2) files beside it: a writer waits for `<db>.writer` while holding
`<db>.queue`, so one that has just committed cannot take the file again before the writer already
waiting, as it could at SQLite's own lock (which a waiter only polls).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class WriteTurns:
    """The writers of one database file in this process: how many wait for its write lock now."""

    def __init__(self, path: str | None = None) -> None:
        self._changed = threading.Condition()
        self.waiting = 0    # inside BEGIN IMMEDIATE, the lock not yet theirs
        self.served = 0     # BEGIN IMMEDIATEs that returned (the lock had, or given up on)
        self.given_way = 0  # pauses a series of transactions made for waiting writers
        self.writer = threading.RLock()  # held from BEGIN IMMEDIATE to COMMIT (database.transaction): writers queue here
        self.between = _Processes(path) if path is not None else None  # the turns of this file's other processes
        self._depth = 0  # the writer lock's holds (a nested transaction fails at BEGIN, inside the outer one's)

    def acquire(self, timeout: float) -> bool:
        """The file's writer lock, in this process and then between processes; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if not self.writer.acquire(timeout=timeout):
            return False
        if self._depth == 0 and self.between is not None:
            try:
                taken = self.between.acquire(deadline)
            except BaseException:
                self.writer.release()
                raise
            if not taken:
                self.writer.release()
                return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self.between is not None:
            self.between.release()
        self.writer.release()

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


class _Processes:
    """The writer lock between the processes of one file: flock(2) on `<db>.writer`, waited for holding
    `<db>.queue` (the next writer's place, which the one that just committed must queue for too)."""

    PATIENT = 5.0  # seconds: a writer with at least this much patience sleeps in the kernel until its turn

    def __init__(self, path: str) -> None:
        self.path = path
        self._files: tuple[int, int] | None = None

    def _open(self) -> tuple[int, int] | None:
        """The two files, created 0600 at first use; None where they cannot be (a read-only directory):
        SQLite's own lock still keeps writers apart there."""
        if self._files is None:
            try:
                self._files = (os.open(self.path + ".queue", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600),
                               os.open(self.path + ".writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError:
                return None
        return self._files

    def acquire(self, deadline: float) -> bool:
        files = self._open()
        if files is None:
            return True
        queue, writer = files
        if not _flock(queue, deadline):
            return False
        try:
            return _flock(writer, deadline)
        finally:
            fcntl.flock(queue, fcntl.LOCK_UN)

    def release(self) -> None:
        if self._files is not None:
            fcntl.flock(self._files[1], fcntl.LOCK_UN)


def _flock(fd: int, deadline: float) -> bool:
    """An exclusive flock by `deadline`: slept for in the kernel when the wait may be long (woken the moment
    the holder lets go), else tried every millisecond or so (a probe's short patience)."""
    if deadline - time.monotonic() >= _Processes.PATIENT:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.005)


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
        if name not in _FILES:
            _FILES[name] = WriteTurns(name)
        return _FILES[name]


def turns_of(conn: sqlite3.Connection) -> WriteTurns:
    """The turns `conn` takes part in (a connection not made by `database.connect` waits alone)."""
    return conn.turns if isinstance(conn, Connection) else WriteTurns()
