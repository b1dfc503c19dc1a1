"""One writer per database: an OS lock on `<db>.lock` that dies with the process holding it.

Two servers on one SQLite file would each send the other's messages and "recover" the other's
hand-offs in flight. flock(2) is released by the kernel when the process ends, SIGKILL included,
so a crash never leaves a stale lock; the file only says who holds it, for the refusal message.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import orjson

from engine.runtimes.embedded import database
from engine.runtimes.startup import EX_CANTCREAT, EX_TEMPFAIL, StartupError, reason


@dataclass
class DatabaseLock:
    """Held from `acquire` until the process ends (or `release`): the file stays open meanwhile."""

    path: Path
    file: IO[bytes] | None

    @classmethod
    def acquire(cls, db: Path, holder: str) -> DatabaseLock:
        """Take the lock or raise StartupError naming the process that has it (pid, host, start)."""
        path = db.with_name(db.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StartupError(EX_CANTCREAT, f"cannot open database {db}: {reason(exc)}") from None
        file = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = file.read()
            file.close()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StartupError(EX_CANTCREAT, f"cannot lock database {db}: {reason(exc)}") from None
            raise StartupError(EX_TEMPFAIL, f"database {db} is in use by {describe(owner)}; one process writes "
                                            "to a database at a time: stop it first") from None
        database.tighten(fd)
        file.truncate(0)
        file.write(orjson.dumps({"holder": holder, "pid": os.getpid(), "host": socket.gethostname(),
                                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        file.flush()
        return cls(path, file)

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the last descriptor releases the flock
            self.file = None

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def describe(owner: bytes) -> str:
    """"nudge run (pid 12 on web-1, started ...)" from the lock file; the holder may not have written it yet."""
    try:
        info = orjson.loads(owner)
        return f"{info['holder']} (pid {info['pid']} on {info['host']}, started {info['started']})"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "another process (starting up)"


def claim(db: Path, holder: str) -> DatabaseLock:
    """Before anything else touches the database: open it (0600), lock it, give it its schema."""
    try:
        database.make_private(db)
    except OSError as exc:
        raise StartupError(EX_CANTCREAT, f"cannot open database {db}: {reason(exc)}") from None
    lock = DatabaseLock.acquire(db, holder)
    try:
        database.create(db)
    except (OSError, sqlite3.Error) as exc:
        lock.release()
        raise StartupError(EX_CANTCREAT, f"cannot open database {db}: {exc}") from None
    return lock
