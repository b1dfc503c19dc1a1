"""Where reports read their logs: a simulate JSONL file (plus recorded events), or the embedded SQLite file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from engine.model import DEFAULT_PURCHASE_EVENTS
from engine.reports.funnel import PROVIDER_EVENTS


class SourceError(ValueError):
    """A log line that is not a JSON object, named by file and line."""


@dataclass(frozen=True)
class Logs:
    records: Iterator[dict[str, Any]]
    events: Iterator[dict[str, Any]]
    size: int | None  # how many records and events, when known cheaply (for a progress bar)
    source: str


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SourceError(f"{path}:{number}: invalid JSON: {exc}") from None
            if not isinstance(item, dict):
                raise SourceError(f"{path}:{number}: expected a JSON object")
            yield item


def from_files(records: Path, events: Path | None = None) -> Logs:
    """`nudge simulate` output, and optionally the events it replayed plus provider feedback."""
    source = str(records) + (f" + {events}" if events else "")
    return Logs(_jsonl(records), _jsonl(events) if events else iter(()), None, source)


def from_db(conn: sqlite3.Connection, source: str = "database",
            order_types: Iterable[str] = DEFAULT_PURCHASE_EVENTS) -> Logs:
    """The embedded store: `records` in commit order, and accepted events of the types a report reads
    (provider feedback and orders; the rest, page views..., are never parsed)."""
    reported = (*PROVIDER_EVENTS, *order_types)
    marks = ",".join("?" * len(reported))
    type_filter = f"json_extract(CAST(body AS TEXT), '$.type') IN ({marks})"
    size = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def records() -> Iterator[dict[str, Any]]:
        for (body,) in conn.execute("SELECT body FROM records ORDER BY seq"):
            yield orjson.loads(body)

    def events() -> Iterator[dict[str, Any]]:
        for (body,) in conn.execute(f"SELECT body FROM events WHERE status != 'erased' AND {type_filter} ORDER BY seq",
                                    reported):
            yield orjson.loads(body)

    return Logs(records(), events(), size, source)


def latest_at(logs_path: Path | None = None, conn: sqlite3.Connection | None = None) -> str | None:
    """The newest record's `at`, which `--since 30d` counts back from: simulate output is ordered by `at`,
    so its last line holds it; the database is asked."""
    if conn is not None:
        value = conn.execute("SELECT MAX(at) FROM records").fetchone()[0]
        return str(value) if value else None
    if logs_path is None:
        return None
    with logs_path.open("rb") as handle:
        handle.seek(0, 2)
        end = handle.tell()
        handle.seek(max(0, end - 65536))
        lines = [line for line in handle.read().splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(item, dict) and isinstance(item.get("at"), str):
            return str(item["at"])
    return None


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def waiting_now(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """(journey, step id) -> journey instances in flight standing there now: the live store's customer states
    (as `queries.in_flight` reads them), counted in SQL without decoding each state."""
    rows = conn.execute(
        "SELECT json_extract(i.value, '$.journey'), json_extract(i.value, '$.step_id'), COUNT(*) "
        "FROM customers, json_each(CAST(customers.state AS TEXT), '$.instances') AS i "
        "WHERE customers.active > 0 GROUP BY 1, 2")
    return {(str(journey), str(step or "")): n for journey, step, n in rows}
