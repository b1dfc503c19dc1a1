"""A request's events reach SQLite in a few multi-row statements: each statement gives up the interpreter lock,
and a writer that gives it up once per event waits behind the HTTP side's parsing once per event."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings, strategies as st

from engine.events import Event
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import Ingest, Prepared, isoformat, stored, tail
from engine.runtimes.kernel.codecs import from_epoch
from engine.runtimes.kernel.port import Accepted
from tests.unit.test_ingest_fast_path import any_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _events(count: int, prefix: str = "e") -> list[Event]:
    return [Event(type="page_viewed", timestamp=T0 - timedelta(seconds=count - n), id=f"{prefix}{n}",
                  customer_id=f"c{n % 7}", properties={"page": "home"}) for n in range(count)]


def _submit(db: Path, *requests: list[Event]) -> tuple[list[Accepted | BaseException], list[str]]:
    conn = database.connect(db)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    ingest = Ingest(conn, time.time, lambda: None)

    async def go() -> list[Accepted | BaseException]:
        task = asyncio.create_task(ingest.run())
        outcomes = await asyncio.gather(*(ingest.submit(r) for r in requests), return_exceptions=True)
        task.cancel()
        return outcomes

    return asyncio.run(go()), [s for s in statements if s.startswith("INSERT")]


def test_a_request_of_500_events_is_inserted_in_a_handful_of_statements(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    (accepted,), inserts = _submit(db, _events(500))
    assert len(inserts) <= 10
    rows = sqlite3.connect(db).execute("SELECT id FROM events ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [f"e{n}" for n in range(500)]


def test_repeated_ids_within_and_across_requests_are_duplicates_in_a_multi_row_insert(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    first = _events(37)
    again = [*_events(5), *_events(70, prefix="f"), *_events(3, prefix="f")]
    outcomes, _ = _submit(db, first, again)
    assert outcomes == [Accepted(37, 0), Accepted(70, 8)]
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone() == (107,)


@settings(max_examples=300, deadline=None)
@given(any_event, st.floats(0, 4e9))
def test_a_row_prepared_before_the_stamp_is_stored_as_the_event_codec_writes_it(event: Event, received: float) -> None:
    assert Prepared.of([event]).params(received, tail(from_epoch(received))) == [
        event.id, event.customer_id or f"anon:{event.anonymous_id}", received, event.timestamp.isoformat(),
        stored(event, from_epoch(received))]


@settings(max_examples=1000, deadline=None)
@given(st.datetimes(timezones=st.one_of(st.just(timezone.utc), st.none(), st.timezones(),
                                        st.builds(lambda s: timezone(timedelta(seconds=s)), st.integers(-86399, 86399)))))
def test_a_timestamp_column_holds_the_isoformat_text(at: datetime) -> None:
    assert isoformat(at) == at.isoformat()
