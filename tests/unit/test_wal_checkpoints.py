"""SQLite copies the WAL into the file (a checkpoint, with its fsyncs) inside the COMMIT that crosses
`database.CHECKPOINT_PAGES`, while the writer lock is held: not every 1,000 pages as by default, and still
often enough that the WAL stays bounded however much is written."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from engine.runtimes.embedded import database

PAGE = 4096
PAGES_A_COMMIT = 100


def write_pages(db: Path, pages: int) -> None:
    """`pages` pages of new rows, a commit every PAGES_A_COMMIT, as ingest and the engine write them."""
    conn = database.connect(db)
    try:
        for n in range(pages // PAGES_A_COMMIT):
            with database.transaction(conn):
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"k{n}", "x" * (PAGE * PAGES_A_COMMIT)))
    finally:
        conn.close()


def wal_resets(db: Path) -> int:
    """How many times the WAL went back to its start after a checkpoint (its header's checkpoint sequence)."""
    with open(f"{db}-wal", "rb") as wal:
        return int(struct.unpack(">I", wal.read(16)[12:16])[0])


def test_two_thousand_pages_are_committed_without_a_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    keep = database.connect(db)  # a connection open throughout, as the server's: the WAL is not removed between
    write_pages(db, 2_000)
    assert wal_resets(db) == 0
    keep.close()


def test_the_wal_stays_bounded_however_much_is_written(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    keep = database.connect(db)
    write_pages(db, 3 * database.CHECKPOINT_PAGES)
    assert wal_resets(db) >= 2
    assert os.path.getsize(f"{db}-wal") < (database.CHECKPOINT_PAGES + 2 * PAGES_A_COMMIT) * (PAGE + 24)
    keep.close()
