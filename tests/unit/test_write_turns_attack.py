"""The writer lock under misuse: a BEGIN that fails after the lock is taken, one connection shared by two
threads, and a waiting writer that gives up while a series gives way to it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.turns import turns_of


def _file(tmp_path: Path) -> Path:
    db = tmp_path / "n.db"
    database.create(db)
    return db


def _waiting(conn: sqlite3.Connection, count: int) -> None:
    turns, deadline = turns_of(conn), time.monotonic() + 30
    while turns.waiting < count and time.monotonic() < deadline:
        time.sleep(0.001)
    assert turns.waiting == count


def test_a_nested_transaction_fails_alone_and_the_outer_one_still_commits_and_frees_the_file(tmp_path: Path) -> None:
    db = _file(tmp_path)
    conn = database.connect(db)
    with transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('outer', '1')")
        with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
            with transaction(conn):  # the lock is this thread's already; BEGIN fails and gives back only its hold
                pass
    other = database.connect(db, busy_timeout=0.5)
    with transaction(other):  # the lock was given back as many times as taken
        other.execute("INSERT INTO meta VALUES ('next', '1')")
    assert dict(other.execute("SELECT key, value FROM meta WHERE key IN ('outer', 'next')")) == {"outer": "1", "next": "1"}


def test_a_connection_shared_by_two_threads_never_mixes_their_transactions(tmp_path: Path) -> None:
    conn = database.connect(_file(tmp_path))
    outcome: list[object] = []

    def write_second() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO meta VALUES ('second', '2')")
        outcome.append("committed")

    with pytest.raises(ValueError):
        with transaction(conn):
            conn.execute("INSERT INTO meta VALUES ('first', '1')")
            thread = threading.Thread(target=write_second)
            thread.start()
            _waiting(conn, 1)  # the second thread queues instead of writing into this transaction
            raise ValueError("the first rolls back")
    thread.join()
    assert outcome == ["committed"]
    assert dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('first', 'second')")) == {"second": "2"}


def test_a_series_giving_way_to_a_writer_that_gives_up_is_not_left_waiting_for_it(tmp_path: Path) -> None:
    db = _file(tmp_path)
    holder, series = database.connect(db), database.connect(db)
    failures: list[object] = []
    gave_way: list[bool] = []
    returned = threading.Event()

    def write_impatiently() -> None:
        impatient = database.connect(db, busy_timeout=2)  # long enough for the series to start waiting for it
        try:
            with transaction(impatient):
                pass
        except sqlite3.OperationalError as exc:
            failures.append(exc)

    def give_way() -> None:
        gave_way.append(turns_of(series).give_way(600))
        returned.set()

    with transaction(holder):
        writer = threading.Thread(target=write_impatiently)
        writer.start()
        _waiting(holder, 1)
        pause = threading.Thread(target=give_way)
        pause.start()
        deadline = time.monotonic() + 30
        while not turns_of(series).given_way and time.monotonic() < deadline:
            time.sleep(0.001)
        assert returned.wait(60)  # woken by the writer giving up, while the file is still held
        writer.join()
    pause.join()
    assert gave_way == [True] and "database is locked" in str(failures[0])
