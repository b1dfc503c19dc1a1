"""A batch's rows written a chunk a statement (engine/runtimes/embedded/bulk.py) leave the tables exactly as a row a
statement did: the order of an AUTOINCREMENT key, a later row replacing an earlier one of the same key (OR REPLACE),
an ignored repeat (OR IGNORE), and an update of the rows named, whatever the count against the chunk size; a known
customer's row is updated where it is (an upsert), not deleted and inserted again."""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

import pytest

from engine.runtimes.embedded import bulk, database
from engine.runtimes.embedded.sqlite_store import CUSTOMER_UPSERT

TABLES = """
CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, value INTEGER);
CREATE TABLE latest (key TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE first (key TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE upserted (key TEXT PRIMARY KEY, value INTEGER);
"""


def tables(write: Callable[[sqlite3.Connection, str, list[tuple[Any, ...]]], None],
           update: Callable[[sqlite3.Connection, str, list[Any]], None], rows: list[tuple[Any, ...]]) -> list[Any]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(TABLES)
    write(conn, "INSERT INTO log (key, value) VALUES (?, ?)", rows)
    write(conn, "INSERT OR REPLACE INTO latest VALUES (?, ?)", rows)
    write(conn, "INSERT OR IGNORE INTO first VALUES (?, ?)", rows)
    write(conn, "INSERT INTO upserted VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", rows)
    update(conn, "UPDATE log SET value = -value WHERE seq IN ({})", [seq for seq in range(1, len(rows) + 1, 3)])
    return [conn.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall() for table in ("log", "latest", "first", "upserted")]


def one_by_one(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    for row in rows:
        conn.execute(sql, row)


def update_one_by_one(conn: sqlite3.Connection, sql: str, keys: list[Any]) -> None:
    for key in keys:
        conn.execute(sql.format("?"), (key,))


@pytest.mark.parametrize("count", [0, 1, bulk.PER - 1, bulk.PER, bulk.PER + 1, 3 * bulk.PER + 7])
def test_rows_written_a_chunk_a_statement_leave_the_tables_as_a_row_a_statement(count: int) -> None:
    rows = [(f"k{n % 37}", n) for n in range(count)]  # keys repeat: replaced, ignored
    assert tables(bulk.insert, bulk.where_in, rows) == tables(one_by_one, update_one_by_one, rows)


def test_a_known_customer_written_again_is_updated_in_place_with_its_new_columns() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(database.SCHEMA)
    bulk.insert(conn, CUSTOMER_UPSERT, [("c1", "c1", b"{}", 0, "a@x.example", None), ("c2", "c2", b"{}", 0, None, None)])
    (before,) = conn.execute("SELECT rowid FROM customers WHERE key = 'c1'").fetchone()
    bulk.insert(conn, CUSTOMER_UPSERT, [("c1", "c1", b'{"x":1}', 2, "b@x.example", "+1555")])
    assert conn.execute("SELECT rowid, * FROM customers ORDER BY key").fetchall() == [
        (before, "c1", "c1", b'{"x":1}', 2, "b@x.example", "+1555"), (2, "c2", "c2", b"{}", 0, None, None)]
