"""An engine batch is worked out on a read snapshot and takes the write lock only to write
(processor.py `_run_batch`): other writers (ingest's group commits) go on meanwhile, and an erasure
that comes in between is not undone by the batch's writes."""

from __future__ import annotations

import sqlite3
from typing import Any

from engine.runtimes.embedded import queries
from tests.unit.test_embedded_runtime import T0, ingest, signup, world  # noqa: F401 (fixture)


def while_deciding(world: dict[str, Any], act: Any) -> list[object]:
    """Run `act` once, when the batch reads its customers' states (it is working the batch out)."""
    done: list[object] = []

    def trace(statement: str) -> None:
        if "FROM customers WHERE key IN" in statement and not done:
            done.append(act())

    world["processor"].conn.set_trace_callback(trace)
    return done


def test_another_writer_commits_while_the_engine_works_a_batch_out(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))

    def write_now() -> object:
        other = sqlite3.connect(world["db"], timeout=0, isolation_level=None)  # no wait: the lock is free or not
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta VALUES ('written_meanwhile', '1')")
            other.execute("COMMIT")
            return "committed"
        except sqlite3.OperationalError as exc:
            return str(exc)
        finally:
            other.close()

    outcome = while_deciding(world, write_now)
    result = world["processor"].run_batch()
    assert outcome == ["committed"]
    assert (result.events, result.messages) == (1, 1)
    assert world["conn"].execute("SELECT status FROM events").fetchall() == [("processed",)]


def test_an_erasure_while_a_batch_is_worked_out_is_not_undone_by_its_writes(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0), signup("c2", T0))
    world["processor"].run_batch()  # both in the journey's wait, a state row each
    ingest(world, {"type": "page_viewed", "customer_id": "c1", "timestamp": "2026-03-02T12:00:01Z"},
           {"type": "page_viewed", "customer_id": "c2", "timestamp": "2026-03-02T12:00:01Z"})
    outcome = while_deciding(world, lambda: queries.erase(database_connection(world), "c1"))
    result = world["processor"].run_batch()
    assert outcome == [True]
    assert result.events == 1  # c2's event only: c1's was erased before the batch wrote
    conn = world["conn"]
    assert conn.execute("SELECT key FROM customers").fetchall() == [("c2",)]
    assert conn.execute("SELECT customer, status FROM events ORDER BY seq").fetchall() == [
        (None, "erased"), ("c2", "processed"), (None, "erased"), ("c2", "processed")]
    assert conn.execute("SELECT COUNT(*) FROM timers WHERE key = 'c1'").fetchone() == (0,)


def database_connection(world: dict[str, Any]) -> sqlite3.Connection:
    from engine.runtimes.embedded import database

    return database.connect(world["db"])


def test_inputs_another_engine_took_while_a_batch_was_worked_out_are_not_taken_twice(world: dict[str, Any]) -> None:
    """A leftover engine on the same file (the server never starts two) that processed the batch's event
    meanwhile: the batch is worked out again under the lock, so its welcome email is not queued twice."""
    ingest(world, signup("c1", T0))

    def other_engine() -> object:
        other = database_connection(world)
        with other:
            other.execute("UPDATE events SET status = 'processed'")
        other.close()
        return "taken"

    outcome = while_deciding(world, other_engine)
    result = world["processor"].run_batch()
    assert outcome == ["taken"]
    assert (result.events, result.messages) == (0, 0)
    assert world["conn"].execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
