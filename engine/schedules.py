"""The time values SPEC §13 adds to the compiled workspace: a broadcast's schedule, a best-time wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BroadcastTrigger:
    """A broadcast's schedule: at `utc`, or at the wall-clock `local` in each customer's zone."""

    utc: datetime | None          # aware, when send_at is {utc: ...}
    local: datetime | None        # naive wall-clock time, when send_at is {local: ...}
    best_time: timedelta | None   # the window after send_at in which each customer's best hour is chosen
    per_hour: float | None        # throttle: entries (so first messages) an hour at most


@dataclass(frozen=True)
class WaitBest:
    """`wait_until: {best_time: W}`: until the customer's most engaged hour within W."""

    window: timedelta
