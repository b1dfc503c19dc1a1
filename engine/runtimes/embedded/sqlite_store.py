"""The Store port on SQLite, for one batch: reads cached, every write kept until `flush` in the batch's
transaction (so a batch can be worked out on a read snapshot, and written afterwards)."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from engine import state_codec
from engine.runtimes.embedded import bulk
from engine.state import CustomerState


class SqliteStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._customers: dict[str, CustomerState | None] = {}
        self._dirty: set[str] = set()
        self._dropped: set[str] = set()
        self._rows: dict[str, tuple[Any, ...]] = {}  # encoded by `settle`, written by `flush`
        self._winners: dict[tuple[str, str], str | None] = {}
        self._stored: dict[str, Any] = {}  # key -> its state as stored (None: no row), read by `preload`
        self._aliases: dict[str, str] = {}  # set by this batch (the first for an id wins, as INSERT OR IGNORE)
        self._suppressed: dict[str, str] = {}

    def preload(self, keys: Iterable[str]) -> None:
        """Reads the states of the keys a batch names in a few queries rather than one per input
        (decoded when first asked for); a key without a row is known to have none."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._customers and key not in self._stored]
        for start in range(0, len(wanted), PRELOAD_CHUNK):
            chunk = wanted[start:start + PRELOAD_CHUNK]
            self._stored.update(dict.fromkeys(chunk))
            marks = ",".join("?" * len(chunk))
            self._stored.update(self.conn.execute(f"SELECT key, state FROM customers WHERE key IN ({marks})", chunk))

    def customer(self, key: str) -> CustomerState | None:
        if key not in self._customers:
            if key in self._stored:
                data = self._stored.pop(key)
            else:
                row = self.conn.execute("SELECT state FROM customers WHERE key = ?", (key,)).fetchone()
                data = row[0] if row else None
            self._customers[key] = state_codec.loads(data) if data is not None else None
        return self._customers[key]

    def put_customer(self, state: CustomerState) -> None:
        self._customers[state.key] = state
        self._dirty.add(state.key)
        self._dropped.discard(state.key)

    def drop_customer(self, key: str) -> None:
        self._customers[key] = None
        self._dirty.discard(key)
        self._rows.pop(key, None)
        self._dropped.add(key)

    def alias(self, anonymous_id: str) -> str | None:
        row = self.conn.execute("SELECT customer_id FROM aliases WHERE anonymous_id = ?", (anonymous_id,)).fetchone()
        return row[0] if row else self._aliases.get(anonymous_id)

    def set_alias(self, anonymous_id: str, customer_id: str) -> None:
        self._aliases.setdefault(anonymous_id, customer_id)

    def seen(self, event_id: str) -> bool:
        """Ingest already dropped repeated ids (the events table's unique key), and the processor
        marks each event processed in the batch that handles it: nothing to look up here."""
        return False

    def remember(self, event_id: str) -> None:
        return None

    def suppression(self, address: str) -> str | None:
        row = self.conn.execute("SELECT reason FROM suppressions WHERE address = ?", (address.lower(),)).fetchone()
        return row[0] if row else self._suppressed.get(address.lower())

    def suppress(self, address: str, reason: str) -> None:
        self._suppressed.setdefault(address.lower(), reason)

    def winner(self, journey: str, step: str) -> str | None:
        key = (journey, step)
        if key not in self._winners:
            row = self.conn.execute("SELECT winner FROM experiments WHERE journey = ? AND step = ?", key).fetchone()
            self._winners[key] = row[0] if row else None
        return self._winners[key]

    def settle(self) -> None:
        """Encode the customers changed since the last call: after each input, so that a state that
        cannot be saved fails the input that made it, not the whole batch."""
        for key in self._dirty:
            state = self._customers[key]
            assert state is not None
            self._rows[key] = customer_row(state)
        self._dirty.clear()

    def flush(self) -> None:
        """Write what the batch changed; the caller commits."""
        self.settle()
        self.conn.executemany("DELETE FROM customers WHERE key = ?", [(key,) for key in self._dropped])
        bulk.insert(self.conn, CUSTOMER_UPSERT, list(self._rows.values()))
        self.conn.executemany("INSERT OR IGNORE INTO aliases VALUES (?, ?)", list(self._aliases.items()))
        self.conn.executemany("INSERT OR IGNORE INTO suppressions VALUES (?, ?)", list(self._suppressed.items()))
        self._rows.clear()
        self._dropped.clear()
        self._aliases.clear()
        self._suppressed.clear()


PRELOAD_CHUNK = 500  # keys per query, under SQLite's limit on bound parameters
# a known customer's row is updated in place: REPLACE would delete it and insert it again, every index entry with it
CUSTOMER_UPSERT = ("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                   "customer_id = excluded.customer_id, state = excluded.state, active = excluded.active, "
                   "email = excluded.email, phone = excluded.phone")


def customer_row(state: CustomerState) -> tuple[Any, ...]:
    """A `customers` row: the state, and the columns lookups by address and `nudge plan` use."""
    email, phone = state.traits.get("email"), state.traits.get("phone")
    return (state.key, state.customer_id, state_codec.dumps(state), len(state.instances),
            email.lower() if isinstance(email, str) else None, phone if isinstance(phone, str) else None)
