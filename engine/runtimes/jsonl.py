"""Reading events and profiles from JSONL files, with every bad line reported by number."""

from __future__ import annotations

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
                events.append(parse_event(data))
                continue
            except EventError as exc:
                error = str(exc)
        problems.append(f"{path}:{number}: {error}")
    if problems:
        raise InputError(problems)
    return events


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
