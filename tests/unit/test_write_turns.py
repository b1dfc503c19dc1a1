"""Turns at a database's write lock (engine/runtimes/embedded/turns.py): every connection of one file counts its
writers waiting in the same place, whatever name the file was opened by; another file's writers are not counted."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.turns import turns_of


def test_connections_to_one_file_share_its_turns_and_another_file_has_its_own(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    database.create(tmp_path / "nudge.db")
    database.create(tmp_path / "other.db")
    one = turns_of(database.connect(tmp_path / "nudge.db"))
    assert turns_of(database.connect(tmp_path / "sub" / ".." / "nudge.db")) is one
    assert turns_of(database.connect(tmp_path / "other.db")) is not one


def test_a_series_gives_way_to_a_writer_waiting_on_another_connection_until_it_has_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    series, other = database.connect(db), database.connect(db)
    turns = turns_of(series)
    assert not turns.give_way(30)  # nobody waits: at once
    with transaction(series):
        writer = threading.Thread(target=_write, args=(other,))
        writer.start()
        deadline = time.monotonic() + 30
        while not turns.waiting and time.monotonic() < deadline:
            time.sleep(0.001)
        assert turns.waiting == 1
    served = turns.served
    assert turns.give_way(30)  # returns once the writer has had the lock
    assert turns.served == served + 1
    writer.join()
    assert series.execute("SELECT value FROM meta WHERE key = 'k'").fetchone() == ("v",)
    assert (turns.waiting, turns.given_way) == (0, 1)


def _write(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('k', 'v')")
