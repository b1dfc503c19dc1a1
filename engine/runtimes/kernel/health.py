"""What /healthz tells: conditions the runtime's loops record, judged when the probe asks.

A loop that keeps failing (a full disk), a batch that never ends, events pending that no batch
takes, a task that has ended: each is a *problem* (503, a supervisor should act). A refused
edit of the workspace is a *warning* (200): the last valid version keeps running, and a restart
would not help, since the edit on disk would be refused at start-up too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

STALL_AFTER = 60.0  # seconds a batch may run, or pending events may wait for one, before it is a stall


@dataclass
class _Failing:
    since: float
    times: int
    error: str


@dataclass(frozen=True)
class Verdict:
    problems: dict[str, str]
    warnings: dict[str, str]

    @property
    def status(self) -> str:
        return "failing" if self.problems else "warning" if self.warnings else "ok"


@dataclass
class Health:
    """Updated by the loops as they go (no I/O here); `verdict` reads it at probe time."""

    clock: Callable[[], float]
    stall_after: float = STALL_AFTER
    _failing: dict[str, _Failing] = field(default_factory=dict)
    _busy_since: dict[str, float] = field(default_factory=dict)
    _rounds: dict[str, int] = field(default_factory=dict)
    _last_done: dict[str, float] = field(default_factory=dict)
    _warnings: dict[str, str] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def track(self, *tasks: asyncio.Task[None]) -> None:
        """A tracked task that ends (it should run for the process's life) is a problem, named after it."""
        self._tasks.extend(tasks)

    def began(self, part: str) -> None:
        self._busy_since[part] = self.clock()
        self._rounds[part] = self._rounds.get(part, 0) + 1

    def idle_mark(self, part: str) -> int | None:
        """Taken before reading the database: None while `part` is mid-round, else a mark for `still_idle`."""
        return None if part in self._busy_since else self._rounds.get(part, 0)

    def still_idle(self, part: str, mark: int | None) -> bool:
        """No round ran since the mark: what the read found in flight was left behind, not being worked on."""
        return mark is not None and part not in self._busy_since and self._rounds.get(part, 0) == mark

    def done(self, part: str) -> None:
        self._busy_since.pop(part, None)
        self._failing.pop(part, None)
        self._last_done[part] = self.clock()

    def failed(self, part: str, exc: BaseException) -> None:
        self._busy_since.pop(part, None)
        previous = self._failing.get(part)
        self._failing[part] = _Failing(previous.since if previous else self.clock(),
                                       previous.times + 1 if previous else 1, f"{type(exc).__name__}: {exc}")

    def warn(self, part: str, message: str | None) -> None:
        """Set (or, with None, clear) a warning."""
        if message is None:
            self._warnings.pop(part, None)
        else:
            self._warnings[part] = message

    def verdict(self, pending: dict[str, int], extra: dict[str, str] | None = None, stranded: int = 0) -> Verdict:
        """`pending`: per part, how much work waits for it (events for the engine); `extra`: what
        probes found just now (the database, the broker); `stranded`: messages left `sending` by a
        dispatch round that failed after the hand-off (only a restart's in-doubt check resolves them)."""
        now = self.clock()
        problems = dict(extra or {})
        if stranded:
            problems["dispatch"] = (f"{stranded} message(s) left 'sending' by a round that failed: a restart "
                                    "resolves them (see 'Messages in doubt')")
        for part, failing in self._failing.items():
            problems[part] = (f"failing since {_iso(failing.since)} ({failing.times} attempt(s) in a row): "
                              f"{failing.error}")
        for part, since in self._busy_since.items():
            if now - since > self.stall_after:
                problems.setdefault(part, f"stalled: one batch has been running since {_iso(since)}")
        for part, waiting in pending.items():
            last = self._last_done.get(part, self.started)
            if waiting and part not in self._busy_since and now - last > self.stall_after:
                problems.setdefault(part, f"stalled: {waiting} waiting and no batch done since {_iso(last)}")
        for task in self._tasks:
            if task.done():
                error = None if task.cancelled() else task.exception()
                problems[task.get_name()] = f"stopped: {type(error).__name__}: {error}" if error else "stopped"
        return Verdict(problems, dict(self._warnings))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Unavailable(Exception):
    """The runtime cannot take a request now (its broker is away): the API answers 503 with Retry-After."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
