"""/healthz and /metrics count the backlog while it drains (a poll every 50 ms in the bench): the age of the
oldest pending event is read from one row, not from every pending one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.runtimes.embedded import database, queries


def _steps(conn: sqlite3.Connection, read: object) -> int:
    """SQLite virtual-machine steps taken by `read()`: the work of a query, whatever the machine's load."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        read()  # type: ignore[operator]
    finally:
        conn.set_progress_handler(None, 1)
    return steps[0]


def test_the_oldest_pending_event_costs_one_row_beside_counting_the_backlog(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    conn = database.connect(db)
    conn.executemany("INSERT INTO events (id, customer, received_at, timestamp, body) VALUES (?, ?, ?, ?, ?)",
                     [(f"e{n}", "c1", 1000.0 + n, "2026-03-01T12:00:00+00:00", b"{}") for n in range(3000)])
    conn.execute("UPDATE events SET status = 'processed' WHERE seq <= 10")
    counted = queries.counts(conn)
    assert (counted["events_pending"], counted["oldest_pending_received_at"]) == (2990, 1010.0)
    bare = _steps(conn, lambda: conn.execute("SELECT COUNT(*) FROM events WHERE status = 'pending'").fetchone())
    assert _steps(conn, lambda: queries.counts(conn)) < bare + 200
