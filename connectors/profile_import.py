"""Loading a customer base (CSV or JSONL of profiles) as `profile_imported` events, each held to SPEC §8
and to the workspace's declared data (§9), then handed to a destination: the embedded runtime's own
ingestion, a running server over HTTP, or the Kafka events topic (connectors/import_targets.py).
The engine merges the traits as it does any event's."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import orjson

from engine.declared import DeclaredData, FieldType
from engine.events import Event
from engine.runtimes.embedded.ingest import Ingest
from rules.data import conformance_problems
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
    warning: bool = False  # imported, but not as `data:` declares it (not strict)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {'warning: ' if self.warning else ''}{self.reason}"


@dataclass
class Summary:
    imported: int = 0
    unchanged: int = 0  # the same customer with the same traits was imported before (an import run again)
    rejected: list[Rejected] = field(default_factory=list)
    nonconforming: list[Rejected] = field(default_factory=list)  # imported with a warning


@dataclass(frozen=True)
class Profile:
    """One valid row: where it is, the event as posted (`body`) and as parsed."""

    line: int
    body: dict[str, Any]
    event: Event


@dataclass(frozen=True)
class Delivered:
    accepted: int
    duplicates: int
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason): the destination's own checks


class Destination(Protocol):
    async def deliver(self, profiles: list[Profile]) -> Delivered:
        """Returns once the profiles are durable there."""


def _lines(path: Path, progress: Callable[[int], None]) -> Iterator[str]:
    """The file's lines as text, reporting the bytes read so far (a bar over the file's size)."""
    done = 0
    with path.open("rb") as handle:
        for raw in handle:
            done += len(raw)
            progress(done)
            yield raw.decode("utf-8", "replace")


def _cell(text: str, spec: FieldType) -> Any:
    """A CSV cell as the value `data:` declares for its column, when it reads as one (else the text, reported)."""
    value = text.strip()
    try:
        match spec.kind:
            case "number":
                number = float(value)
                if math.isfinite(number):
                    return int(value) if value.lstrip("+-").isdigit() else number
            case "integer":
                return int(value)
            case "boolean" if value.lower() in ("true", "false"):
                return value.lower() == "true"
            case "list" | "object":
                parsed = orjson.loads(value)
                if isinstance(parsed, list if spec.kind == "list" else dict):
                    return parsed
            case "enum":
                return next((c for c in spec.choices if str(c) == value), text)
    except (ValueError, orjson.JSONDecodeError):
        pass
    return text


def _csv_rows(lines: Iterable[str], declared: DeclaredData | None) -> Iterator[Row]:
    reader = csv.DictReader(lines)
    types = {**(declared.traits if declared else {}), **{k: FieldType("boolean") for k in BOOLEAN_TRAITS}}
    start = 2
    for record in reader:
        fields: dict[str, Any] = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
        if None in record:
            yield start, EventError("row", f"{len(record[None])} more cell(s) than the header has columns")
        else:
            yield start, {k: _cell(v, types[k]) if k in types else v for k, v in fields.items()}
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


def profile_body(fields: Any, id_column: str, now: datetime) -> dict[str, Any]:
    """One row as an event: its id hashes customer and traits, so importing a file again changes nothing."""
    if isinstance(fields, EventError):
        raise fields
    traits = {k: v for k, v in fields.items() if k != id_column}
    customer = fields.get(id_column)
    if customer is None:
        raise EventError(id_column, f"missing (the --id-column naming each customer is '{id_column}')")
    digest = hashlib.sha256(orjson.dumps([customer, traits], option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return {"id": f"imp_{digest}", "type": EVENT_TYPE, "customer_id": customer, "timestamp": now.isoformat(),
            "traits": traits}


def profile_event(fields: Any, id_column: str, now: datetime, declared: DeclaredData | None = None) -> Event:
    return parse_event(profile_body(fields, id_column, now), received_at=now, declared=declared)


def rows_of(path: Path, progress: Callable[[int], None], declared: DeclaredData | None = None) -> Iterator[Row]:
    """CSV cells are text: those of a column that `data:` declares (or a reserved boolean) take its type."""
    lines = _lines(path, progress)
    return _csv_rows(lines, declared) if path.suffix.lower() == ".csv" else _jsonl_rows(lines)


def _batches(path: Path, id_column: str, clock: Callable[[], float], progress: Callable[[int], None],
             declared: DeclaredData | None, summary: Summary) -> Iterator[list[Profile]]:
    """Rows parsed and validated into batches; a refused row goes to the summary, as does one that breaks
    `data:` without being refused (not strict)."""
    batch: list[Profile] = []
    for line, fields in rows_of(path, progress, declared):
        try:
            body = profile_body(fields, id_column, datetime.fromtimestamp(clock(), timezone.utc))
            event = parse_event(body, received_at=datetime.fromisoformat(body["timestamp"]), declared=declared)
        except EventError as exc:
            summary.rejected.append(Rejected(path.name, line, f"{exc.field}: {exc.reason}"))
            continue
        if declared is not None and (odd := conformance_problems(EVENT_TYPE, {}, event.traits, declared)):
            summary.nonconforming.append(Rejected(path.name, line, "; ".join(odd), warning=True))
        batch.append(Profile(line, body, event))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def stream(path: Path, destination: Destination, id_column: str = "customer_id",
                 declared: DeclaredData | None = None, progress: Callable[[int], None] = lambda done: None,
                 clock: Callable[[], float] = lambda: datetime.now(timezone.utc).timestamp()) -> Summary:
    """Stream `path` to `destination`: one thread parses the next batch while this one is delivered."""
    summary = Summary()
    batches = _batches(path, id_column, clock, progress, declared, summary)
    batch = await asyncio.to_thread(next, batches, None)
    while batch is not None:
        parsing = asyncio.create_task(asyncio.to_thread(next, batches, None))
        try:
            done = await destination.deliver(batch)
        except BaseException:
            await parsing  # the parsing thread finishes before the error goes up (it shares the summary)
            raise
        summary.imported += done.accepted
        summary.unchanged += done.duplicates
        summary.rejected.extend(Rejected(path.name, line, reason) for line, reason in done.refused)
        batch = await parsing
    summary.rejected.sort(key=lambda r: r.line)
    return summary


class DatabaseDestination:
    """The embedded runtime's ingestion, straight into its database (no server may run on it)."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def deliver(self, profiles: list[Profile]) -> Delivered:
        done = await self.ingest.submit([p.event for p in profiles])
        return Delivered(done.accepted, done.duplicates)


async def import_profiles(conn: Any, path: Path, id_column: str = "customer_id",
                          progress: Callable[[int], None] = lambda done: None,
                          clock: Callable[[], float] = lambda: datetime.now(timezone.utc).timestamp(),
                          declared: DeclaredData | None = None) -> Summary:
    """Stream `path` into the database of `conn`; SQLite writes one batch while the next is parsed."""
    ingest = Ingest(conn, clock, lambda: None)
    writer = asyncio.create_task(ingest.run())
    try:
        return await stream(path, DatabaseDestination(ingest), id_column, declared, progress, clock)
    finally:
        writer.cancel()


__all__ = ["EVENT_TYPE", "Delivered", "Destination", "Profile", "Rejected", "Summary", "import_profiles", "profile_event", "stream"]
