"""Reading events and profiles from JSONL files: refused event lines are kept by number, bad profiles stop the run."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from engine.declared import DeclaredData
from engine.events import Event
from engine.model import DEFAULT_FUTURE_SKEW
from engine.runtimes.simulate import Rejected
from rules.events import parse_event, parse_profile, parse_timestamp
from rules.limits import json_value
from rules.problems import EventError, NudgeError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
                rows.append((number, json_value(raw), None))
            except orjson.JSONDecodeError as exc:
                rows.append((number, None, f"invalid JSON: {exc}"))
    return rows


def _time_of(data: Any) -> datetime | None:
    """The line's own journey time when it has a valid one: where its `rejected` record belongs."""
    if not isinstance(data, dict):
        return None
    for key in ("received_at", "timestamp"):
        if key in data:
            try:
                return parse_timestamp(data[key])
            except ValueError:
                continue
    return None


def read_events(path: Path, future_skew: timedelta = DEFAULT_FUTURE_SKEW) -> list[Event]:
    """Every event of a file that must be clean: InputError lists each refused line by number."""
    events, refused = read_event_lines(path, future_skew)
    if refused:
        raise InputError([f"{path}:{r.line}: {r.reason}" for r in refused])
    return events


def read_event_lines(path: Path, future_skew: timedelta = DEFAULT_FUTURE_SKEW,
                     declared: DeclaredData | None = None) -> tuple[list[Event], list[Rejected]]:
    """The accepted events, and every refused line (SPEC §8) in file order, for `nudge simulate`.

    A refused line is placed at its own journey time (`received_at`, else `timestamp`) when valid, else at that
    of the nearest line above that has one, else the first below, else 1970-01-01T00:00:00Z: the output stays
    ordered by `at` and byte-identical.
    """
    events: list[Event] = []
    refused: list[tuple[int, datetime | None, str]] = []
    times: list[tuple[int, datetime]] = []
    for number, data, error in _lines(path):
        if (at := _time_of(data)) is not None:
            times.append((number, at))
        if error is None:
            try:
                events.append(event_line(data, future_skew, declared))
                continue
            except EventError as exc:
                error = str(exc)
        refused.append((number, at, error))
    return events, [Rejected(number, at or _nearest(times, number), reason) for number, at, reason in refused]


def _nearest(times: list[tuple[int, datetime]], number: int) -> datetime:
    index = bisect_left(times, number, key=lambda t: t[0])
    return times[index - 1][1] if index else (times[0][1] if times else EPOCH)


def event_line(data: Any, future_skew: timedelta = DEFAULT_FUTURE_SKEW, declared: DeclaredData | None = None) -> Event:
    """One event line; an exported log's lines carry `received_at`, the journey time of the replay
    (SPEC §14), and then the timestamp may lead it by `future_skew` at most (SPEC §8)."""
    if not isinstance(data, dict) or "received_at" not in data:
        return parse_event(data, future_skew=future_skew, declared=declared)
    data = dict(data)
    try:
        received_at = parse_timestamp(data.pop("received_at"))
    except ValueError as exc:
        raise EventError("received_at", str(exc)) from None
    return replace(parse_event(data, received_at=received_at, future_skew=future_skew, declared=declared),
                   received_at=received_at)


def read_profiles(path: Path) -> list[tuple[str, dict[str, Any]]]:
    profiles: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for number, data, error in _lines(path):
        if error is None:
            try:
                profiles.append(parse_profile(data))
                continue
            except EventError as exc:
                error = str(exc)
        problems.append(f"{path}:{number}: {error}")
    if problems:
        raise InputError(problems)
    return profiles
