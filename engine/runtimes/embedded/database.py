"""The embedded runtime's SQLite file: schema and connections (WAL, one writer at a time)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from engine.runtimes.embedded import turns

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,               -- idempotency: a repeated id is ignored
    customer TEXT,
    received_at REAL NOT NULL,             -- wall clock, for lag and latency
    timestamp TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' -- pending | processed | late | erased | failed
);
CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_customer ON events(customer);
CREATE TABLE IF NOT EXISTS customers (
    key TEXT PRIMARY KEY,
    customer_id TEXT,
    state BLOB NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,     -- journeys in flight, for reloads and plans
    email TEXT, phone TEXT                 -- provider feedback finds the customer by address
);
CREATE INDEX IF NOT EXISTS customers_active ON customers(key) WHERE active > 0;
CREATE INDEX IF NOT EXISTS customers_email ON customers(email);
CREATE TABLE IF NOT EXISTS aliases (anonymous_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suppressions (address TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timers (
    id TEXT PRIMARY KEY,
    due REAL NOT NULL,                     -- epoch seconds
    key TEXT NOT NULL, kind TEXT NOT NULL, journey TEXT NOT NULL, token TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_due ON timers(due);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,               -- the message id: its idempotency key
    channel TEXT NOT NULL,
    customer TEXT, journey TEXT, step TEXT,
    payload BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', -- pending | sending | sent | in_doubt | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    origin REAL NOT NULL,                  -- wall clock of the event or timer behind it
    sent_at REAL, provider_id TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox(next_attempt) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_customer ON outbox(customer);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, customer TEXT, journey TEXT NOT NULL, type TEXT NOT NULL, body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_customer ON records(customer);
CREATE TABLE IF NOT EXISTS failed_inputs (  -- events and timers the engine raised on, set aside
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,                      -- wall clock when set aside
    kind TEXT NOT NULL,                    -- event | timer
    ref TEXT NOT NULL,                     -- the event's seq (its row stays, status 'failed'), or the timer's id
    body BLOB NOT NULL,                    -- the event as stored, or the timer as JSON
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (  -- SPEC §11: a tested step, from its first exposure to its winner
    journey TEXT NOT NULL, step TEXT NOT NULL,
    started_at REAL NOT NULL,              -- journey time of the first exposure, epoch seconds
    winner TEXT, decided_at REAL, reason TEXT,
    PRIMARY KEY (journey, step)
);
CREATE TABLE IF NOT EXISTS exposures (     -- who met which arm: the experiments' tallies start here
    journey TEXT NOT NULL, step TEXT NOT NULL, arm TEXT NOT NULL,
    customer TEXT NOT NULL, message_id TEXT, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS exposures_experiment ON exposures(journey, step);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signatures (signature TEXT PRIMARY KEY, at REAL NOT NULL);  -- replay window
CREATE TABLE IF NOT EXISTS broadcasts (    -- SPEC §13, engine/runtimes/embedded/broadcasts.py
    id TEXT PRIMARY KEY,                   -- the broadcast's id in the workspace
    status TEXT NOT NULL,                  -- scheduled | starting (planned in chunks) | sending | cancelled
    start REAL NOT NULL,                   -- epoch: its first wave (or the moment of `send --now`)
    now INTEGER NOT NULL DEFAULT 0,        -- 1: everyone from `start`, whatever send_at says
    requested_at REAL NOT NULL,
    planned INTEGER,                       -- customers given an entry at the start
    cancelled_at REAL
);
CREATE INDEX IF NOT EXISTS timers_broadcast ON timers(journey) WHERE kind = 'broadcast';
"""

ADDED_COLUMNS = {  # columns added to a table after it first shipped: a file from before gets them at `create`
    "broadcasts": {
        "cursor": "TEXT",     # the last customer key planned (starting): the next chunk goes on after it
        "examined": "INTEGER",  # known customers looked at so far (starting)
        "pacing": "TEXT",     # a throttle's taken slots so far, JSON (engine/broadcasts.py Pacer)
    },
}


REDEFINED_INDEXES = {  # indexes whose definition changed after they first shipped: a file from before gets it at `create`
    # only customers with a phone: the engine writes a customers row per new customer, most of them without one
    "customers_phone": "CREATE INDEX customers_phone ON customers(phone) WHERE phone IS NOT NULL",
}


def connect(path: str | Path, busy_timeout: float = 30.0) -> sqlite3.Connection:
    """WAL with synchronous=NORMAL: a committed transaction survives a process crash."""
    conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False,
                           factory=turns.Connection)
    conn.busy_timeout = busy_timeout
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def create(path: str | Path) -> None:
    """The schema, in a file only its owner can read: it holds customer data and the link secret."""
    make_private(Path(path))
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
        for table, columns in ADDED_COLUMNS.items():
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        for index, definition in REDEFINED_INDEXES.items():
            row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)).fetchone()
            if row is None or row[0] != definition:
                with transaction(conn):
                    conn.execute(f"DROP INDEX IF EXISTS {index}")
                    conn.execute(definition)
    finally:
        conn.close()


def make_private(path: Path) -> None:
    """Create the file 0600 (SQLite gives its -wal and -shm the file's mode) and tighten an
    existing one; an OSError says why the file cannot be opened (permission, a directory...)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        tighten(fd)
    finally:
        os.close(fd)
    for journal in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            journal.chmod(0o600)
        except OSError:  # absent until the first connection, or not ours
            pass


def tighten(fd: int) -> None:
    """0600 for a file created looser (before this version, or by hand)."""
    try:
        os.fchmod(fd, 0o600)
    except PermissionError:  # another user's file: theirs to protect
        pass


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE (the write lock up front, so no deadlock upgrade; the wait for it counted in the file's
    turns), COMMIT or ROLLBACK.

    Writers (ingest, the engine, the dispatcher, the API; in this process or another) queue on the file's
    writer lock first (turns.py): each takes the file the moment the last one is done, where SQLite's busy
    handler would poll it with sleeps of up to 100 ms (a group commit waiting behind an engine batch)."""
    file = turns.turns_of(conn)
    with file.asking():
        if not file.acquire(conn.busy_timeout if isinstance(conn, turns.Connection) else 30.0):
            raise sqlite3.OperationalError("database is locked (by another writer)")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            file.release()
            raise
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT (disk full) may leave it open: the next BEGIN would fail
            conn.execute("ROLLBACK")
        raise
    finally:
        file.release()


def write_problem(conn: sqlite3.Connection, now: float) -> str | None:
    """Why a one-row write cannot commit (a full disk, a read-only or corrupted file), or None.
    A database busy with another writer is not a broken one."""
    try:
        with transaction(conn):
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('health_probe', ?)", (repr(now),))
    except sqlite3.OperationalError as exc:
        return None if "locked" in str(exc) or "busy" in str(exc) else f"not writable: {exc}"
    except sqlite3.DatabaseError as exc:
        return f"corrupted: {exc}"
    return None
