"""The phone index holds only customers with a phone (most have none, and the engine writes a customers row per new
customer): a file made before it was partial gets the new definition at `create`, and a customer is still found by
phone through it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.runtimes.embedded import database, queries

OLD_PHONE_INDEX = "CREATE INDEX customers_phone ON customers(phone)"


def phone_index(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT sql FROM sqlite_master WHERE name = 'customers_phone'").fetchone()[0])
    finally:
        conn.close()


def test_a_new_file_indexes_only_the_customers_with_a_phone(tmp_path: Path) -> None:
    database.create(tmp_path / "nudge.db")
    assert phone_index(tmp_path / "nudge.db").endswith("WHERE phone IS NOT NULL")


def test_a_file_from_before_gets_the_partial_index_and_still_finds_customers_by_phone(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    conn = database.connect(db)
    conn.executescript(f"DROP INDEX customers_phone; {OLD_PHONE_INDEX};")
    conn.executemany("INSERT INTO customers VALUES (?, ?, '{}', 0, NULL, ?)",
                     [("c1", "c1", "+15550001"), ("c2", "c2", None)])
    database.create(db)
    assert phone_index(db).endswith("WHERE phone IS NOT NULL")
    assert queries.customer_by_address(conn, phone="+15550001") == "c1"
    plan = " ".join(str(row[-1]) for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT customer_id FROM customers WHERE phone = ? AND customer_id IS NOT NULL LIMIT 1",
        ("+15550001",)))
    assert "USING INDEX customers_phone" in plan
    database.create(db)  # once redefined, left alone
    assert phone_index(db).endswith("WHERE phone IS NOT NULL")
