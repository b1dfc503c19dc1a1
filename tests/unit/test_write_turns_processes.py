"""Turns at a database's write lock between processes (turns.py): `nudge run`'s engine process writes one
transaction after another while its API's group commit waits; the waiter must go next, not when the series
happens to leave a gap (SQLite's busy handler only polls, with sleeps of up to 100 ms)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction

SERIES = """
import sys, time
from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
conn = database.connect(sys.argv[1])
for n in range(int(sys.argv[2])):
    with transaction(conn):
        conn.execute("INSERT INTO turns (who) VALUES ('series')")
        time.sleep(0.05)
"""


def test_a_writer_waiting_in_another_process_goes_right_after_the_transaction_it_waited_for(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    conn = database.connect(db)
    conn.execute("CREATE TABLE turns (seq INTEGER PRIMARY KEY, who TEXT NOT NULL)")
    series = subprocess.Popen([sys.executable, "-c", SERIES, str(db), "40"], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        (before,) = conn.execute("SELECT COUNT(*) FROM turns").fetchone()  # the series is inside a later one
        with transaction(conn):
            conn.execute("INSERT INTO turns (who) VALUES ('waiter')")
    finally:
        assert series.wait(timeout=60) == 0
    order = [who for (who,) in conn.execute("SELECT who FROM turns ORDER BY seq")]
    assert len(order) == 41
    assert order.index("waiter") <= before + 1  # at most the transaction under way when it asked went first
