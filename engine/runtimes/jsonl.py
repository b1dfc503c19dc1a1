"""Reading events and profiles from JSONL files, with every bad line reported by number."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from engine.events import Event
from rules.events import parse_event
from rules.problems import EventError, NudgeError


class InputError(NudgeError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__("\n".join(shown))


def _lines(path: Path) -> list[tuple[int, Any, str | None]]:
    rows: list[tuple[int, Any, str | None]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                rows.append((number, orjson.loads(raw), None))
            except orjson.JSONDecodeError as exc:
                rows.append((number, None, f"invalid JSON: {exc}"))
    return rows


def read_events(path: Path) -> list[Event]:
    events: list[Event] = []
    problems: list[str] = []
    for number, data, error in _lines(path):
        if error is None:
            try:
                events.append(event_line(data))
                continue
            except EventError as exc:
                error = str(exc)
        problems.append(f"{path}:{number}: {error}")
    if problems:
        raise InputError(problems)
    return events


def event_line(data: Any) -> Event:
    """One event line; an exported log's lines carry `received_at`, the journey time of the replay
    (SPEC §14)."""
    if not isinstance(data, dict) or "received_at" not in data:
        return parse_event(data)
    data = dict(data)
    raw = data.pop("received_at")
    try:
        received_at = datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        received_at = None
    if received_at is None or received_at.tzinfo is None:
        raise EventError("received_at", "must be an RFC 3339 string with an offset, e.g. 2026-03-01T12:00:00Z")
    received_at = received_at.astimezone(timezone.utc)
    return replace(parse_event(data, received_at=received_at), received_at=received_at)


def read_profiles(path: Path) -> list[tuple[str, dict[str, Any]]]:
    profiles: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for number, data, error in _lines(path):
        if error is None:
            if isinstance(data, dict) and isinstance(data.get("customer_id"), str) and isinstance(data.get("traits", {}), dict):
                profiles.append((data["customer_id"], data.get("traits", {})))
                continue
            error = 'expected {"customer_id": "...", "traits": {...}}'
        problems.append(f"{path}:{number}: {error}")
    if problems:
        raise InputError(problems)
    return profiles
