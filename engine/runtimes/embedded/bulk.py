"""A batch's rows in few statements: what a statement run costs besides its row (the sqlite3 module's bind, step
and reset) made the events' status update and the customers' rows each about 1-2 µs of the engine's CPU per event
dearer when each row had its own.

Full chunks of `PER` rows go in one statement each, the same text every time (prepared once, then taken from the
connection's statement cache), the rest a row a statement. SQLite runs a multi-row VALUES and an IN list row by row
in their order, so the table ends as if each row had had its own statement: an `OR REPLACE`, an `OR IGNORE`, an
upsert and an AUTOINCREMENT key behave the same.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

PER = 100  # rows a statement: 6 columns x 100 stays under SQLite's old limit of 999 bound values
MARKS = 500  # values an IN list binds at most, under that limit too (a batch names up to 2,000 inputs)


def insert(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """`sql`, an INSERT of one row (`... VALUES (?, ?)`, an upsert clause after it or not), for every row of
    `rows`, in their order."""
    head, rest = sql.split(" VALUES ", 1)
    end = rest.index(")") + 1
    _chunked(conn, head + " VALUES {}" + rest[end:], rest[:end], sql, rows)


def where_in(conn: sqlite3.Connection, sql: str, keys: Sequence[Any]) -> None:
    """`sql`, a statement on the rows whose key is `IN ({})`, for all of `keys`."""
    _chunked(conn, sql, "?", sql.format("?"), [(key,) for key in keys])


def _chunked(conn: sqlite3.Connection, template: str, part: str, single: str,
             rows: Sequence[tuple[Any, ...]]) -> None:
    whole = len(rows) - len(rows) % PER
    if whole:
        conn.executemany(template.format(",".join([part] * PER)),
                         [[value for row in rows[start:start + PER] for value in row]
                          for start in range(0, whole, PER)])
    if whole < len(rows):
        conn.executemany(single, rows[whole:])
