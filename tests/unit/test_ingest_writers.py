"""Writers of one process queue on the file's writer lock, not in SQLite's busy handler (which polls with sleeps)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction


def test_a_second_writer_of_the_process_waits_for_the_first_without_meeting_sqlite_s_busy_handler(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    first, second = database.connect(db), database.connect(db)
    second.execute("PRAGMA busy_timeout=0")  # were it to wait inside SQLite, it would fail at once
    holding, done = threading.Event(), threading.Event()
    outcome: list[object] = []

    def write_second() -> None:
        holding.wait()
        try:
            with transaction(second):
                second.execute("INSERT INTO meta VALUES ('second', '2')")
            outcome.append("committed")
        except Exception as exc:
            outcome.append(exc)
        done.set()

    thread = threading.Thread(target=write_second)
    thread.start()
    with transaction(first):
        first.execute("INSERT INTO meta VALUES ('first', '1')")
        holding.set()
        done.wait(timeout=0.5)  # the second writer gets in line meanwhile
    thread.join()
    assert outcome == ["committed"]
    assert dict(first.execute("SELECT key, value FROM meta WHERE key IN ('first', 'second')")) == {"first": "1",
                                                                                                 "second": "2"}


def test_a_failed_transaction_leaves_the_file_to_the_next_writer(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    conn = database.connect(db)
    with pytest.raises(ValueError):
        with transaction(conn):
            conn.execute("INSERT INTO meta VALUES ('lost', '1')")
            raise ValueError("a bug mid batch")
    written: list[object] = []
    thread = threading.Thread(target=lambda: written.append(_write(db, "next")))
    thread.start()
    thread.join()
    assert written == ["next"]
    assert conn.execute("SELECT count(*) FROM meta WHERE key = 'lost'").fetchone() == (0,)


def _write(db: Path, key: str) -> object:
    """A meta row written from a connection that waits 10 ms at most; the error when it cannot."""
    conn = database.connect(db, busy_timeout=0.01)
    try:
        with transaction(conn):
            conn.execute("INSERT INTO meta VALUES (?, '1')", (key,))
    except Exception as exc:
        return exc
    return key


def test_a_writer_that_holds_the_file_too_long_gives_the_next_one_database_is_locked(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    holder = database.connect(db)
    failure: list[object] = []
    with transaction(holder):
        thread = threading.Thread(target=lambda: failure.append(_write(db, "late")))
        thread.start()
        thread.join()
    assert len(failure) == 1 and "database is locked" in str(failure[0])
