"""Loading a customer base (CSV or JSONL of profiles) as `profile_imported` events, each held to SPEC §8,
through the embedded runtime's own ingestion: the engine merges the traits as it does any event's."""

from __future__ import annotations

import asyncio
import csv
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import orjson

from engine.events import Event
from engine.runtimes.embedded.ingest import Ingest
from rules.events import parse_event
from rules.problems import EventError

EVENT_TYPE = "profile_imported"
BATCH = 5000
BOOLEAN_TRAITS = ("email_subscribed", "sms_subscribed")  # a CSV cell is text: these reserved traits are booleans
Row = tuple[int, Any]  # line number (of the row's first line), then the profile's fields or the reason it is unreadable


@dataclass(frozen=True)
class Rejected:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class Summary:
    imported: int = 0
    unchanged: int = 0  # the same customer with the same traits was imported before (an import run again)
    rejected: list[Rejected] = field(default_factory=list)


def _lines(path: Path, progress: Callable[[int], None]) -> Iterator[str]:
    """The file's lines as text, reporting the bytes read so far (a bar over the file's size)."""
    done = 0
    with path.open("rb") as handle:
        for raw in handle:
            done += len(raw)
            progress(done)
            yield raw.decode("utf-8", "replace")


def _csv_rows(lines: Iterable[str]) -> Iterator[Row]:
    reader = csv.DictReader(lines)
    start = 2
    for record in reader:
        fields: dict[str, Any] = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
        if None in record:
            yield start, EventError("row", f"{len(record[None])} more cell(s) than the header has columns")
        else:
            for key in BOOLEAN_TRAITS:
                if isinstance(fields.get(key), str) and fields[key].strip().lower() in ("true", "false"):
                    fields[key] = fields[key].strip().lower() == "true"
            yield start, fields
        start = reader.line_num + 1


def _jsonl_rows(lines: Iterable[str]) -> Iterator[Row]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, EventError("line", f"invalid JSON: {exc}")
            continue
        # `nudge simulate --profiles` lines ({"customer_id", "traits"}) or flat objects
        if isinstance(data, dict) and isinstance(data.get("traits"), dict) and set(data) <= {"customer_id", "traits"}:
            data = {**data["traits"], "customer_id": data.get("customer_id")}
        yield number, data if isinstance(data, dict) else EventError("line", "expected a JSON object")


def profile_event(fields: Any, id_column: str, now: datetime) -> Event:
    """One row as an event: its id hashes customer and traits, so importing a file again changes nothing."""
    if isinstance(fields, EventError):
        raise fields
    traits = {k: v for k, v in fields.items() if k != id_column}
    customer = fields.get(id_column)
    if customer is None:
        raise EventError(id_column, f"missing (the --id-column naming each customer is '{id_column}')")
    digest = hashlib.sha256(orjson.dumps([customer, traits], option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return parse_event({"id": f"imp_{digest}", "type": EVENT_TYPE, "customer_id": customer,
                        "timestamp": now.isoformat(), "traits": traits}, received_at=now)


def rows_of(path: Path, progress: Callable[[int], None]) -> Iterator[Row]:
    lines = _lines(path, progress)
    return _csv_rows(lines) if path.suffix.lower() == ".csv" else _jsonl_rows(lines)


def _batches(path: Path, id_column: str, clock: Callable[[], float], progress: Callable[[int], None],
             rejected: list[Rejected]) -> Iterator[list[Event]]:
    """Rows parsed and validated into batches of events; a refused row goes to `rejected`."""
    batch: list[Event] = []
    for line, fields in rows_of(path, progress):
        try:
            batch.append(profile_event(fields, id_column, datetime.fromtimestamp(clock(), timezone.utc)))
        except EventError as exc:
            rejected.append(Rejected(path.name, line, f"{exc.field}: {exc.reason}"))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_profiles(conn: Any, path: Path, id_column: str = "customer_id",
                          progress: Callable[[int], None] = lambda done: None,
                          clock: Callable[[], float] = lambda: datetime.now(timezone.utc).timestamp()) -> Summary:
    """Stream `path` into the database of `conn`: one thread parses the next batch while SQLite writes this one."""
    summary = Summary()
    ingest = Ingest(conn, clock, lambda: None)
    writer = asyncio.create_task(ingest.run())
    batches = _batches(path, id_column, clock, progress, summary.rejected)
    try:
        batch = await asyncio.to_thread(next, batches, None)
        while batch is not None:
            parsing = asyncio.create_task(asyncio.to_thread(next, batches, None))
            done = await ingest.submit(batch)
            summary.imported += done.accepted
            summary.unchanged += done.duplicates
            batch = await parsing
    finally:
        writer.cancel()
    return summary


__all__ = ["EVENT_TYPE", "Rejected", "Summary", "import_profiles", "profile_event"]
