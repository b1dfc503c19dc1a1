"""Under a backlog the engine takes 2,000 events a batch: each batch waits once for the writer lock (ingest's
group commits hold it meanwhile) and reads, preloads and commits once, so fewer, larger batches drain it sooner."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.processor import Processor
from rules.workspace import load_workspace
from tests.unit.test_time_and_ordering import HELLO, T0, Clock, Live, ev


def test_a_backlog_of_two_thousand_events_is_one_batch(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.accept(*(ev("signed_up", f"c{n}", T0, n) for n in range(2_001)))
    processor = Processor(database.connect(live.db), load_workspace(tmp_path / "ws").workspace,
                          SignedLinks(b"k", "http://x"), Clock(T0))
    assert processor.run_batch().events == 2_000
    assert processor.run_batch().events == 1
    assert live.conn.execute("SELECT count(*) FROM events WHERE status = 'processed'").fetchone()[0] == 2_001


def test_a_batch_of_two_thousand_runs_where_sqlite_binds_at_most_999_values_a_statement(tmp_path: Path) -> None:
    """SQLite before 3.32 binds at most 999 values a statement: a batch's checks and writes stay under it."""
    live = Live(tmp_path, {"hello": HELLO})
    live.accept(*(ev("signed_up", f"c{n}", T0, n) for n in range(2_000)))
    conn = database.connect(live.db)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    processor = Processor(conn, load_workspace(tmp_path / "ws").workspace, SignedLinks(b"k", "http://x"), Clock(T0))
    assert processor.run_batch().events == 2_000
    assert live.conn.execute("SELECT count(*) FROM events WHERE status = 'processed'").fetchone()[0] == 2_000
