"""Best-time sending (SPEC §13): each customer's opens and clicks by local hour, and the best hour in a window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.events import Event
from engine.scheduling import customer_zone
from engine.state import CustomerState

ENGAGEMENT = ("email_opened", "email_clicked", "sms_clicked")  # the events that say "they read it now"
HOURS = "hours"  # activity.<type>.hours: 24 counts, by the customer's local hour when it happened
HOUR = timedelta(hours=1)


def note_engagement(state: CustomerState, event: Event, default_zone: str) -> None:
    """Count an open or a click in the customer's local hour (their zone at the time), beside its activity."""
    if event.type not in ENGAGEMENT:
        return
    activity = state.activity[event.type]
    hours = activity.get(HOURS)
    if not isinstance(hours, list) or len(hours) != 24:
        hours = activity[HOURS] = [0] * 24
    hours[event.timestamp.astimezone(customer_zone(state.traits.get("timezone"), default_zone)).hour] += 1


def engagement(activity: Mapping[str, Mapping[str, Any]]) -> list[int]:
    """Opens and clicks together, per local hour (a list of its own)."""
    total = engaged(activity)
    return [0] * 24 if total is None else list(total)


def engaged(activity: Mapping[str, Mapping[str, Any]]) -> list[int] | None:
    """Opens and clicks together, per local hour, to read only (it may be the activity's own list); None without
    any (most customers: nothing to add up)."""
    total: list[int] | None = None
    for kind in ENGAGEMENT:
        hours = activity[kind].get(HOURS) if kind in activity else None
        if isinstance(hours, list) and len(hours) == 24:
            total = hours if total is None else [a + b for a, b in zip(total, hours)]
    return total


def best_moment(start: datetime, window: timedelta, hours: Sequence[int], tz: ZoneInfo) -> datetime:
    """`start`, or the first top of a local hour inside [start, start + window) whose hour has strictly more
    engagement than every earlier candidate; with no history, `start`."""
    return best_of(candidates(start, window, tz), hours)


def candidates(start: datetime, window: timedelta, tz: ZoneInfo) -> list[tuple[datetime, int]]:
    """The moments best time chooses from, each with its local hour: `start`, then each top of a local hour
    inside [start, start + window). The same for every customer of a zone: a broadcast works them out once."""
    local = start.astimezone(tz)
    found = [(start, local.hour)]
    candidate = start + timedelta(minutes=60 - local.minute) - timedelta(seconds=local.second,
                                                                           microseconds=local.microsecond)
    while candidate < start + window:
        found.append((candidate, candidate.astimezone(tz).hour))
        candidate += HOUR
    return found


def best_of(moments: Sequence[tuple[datetime, int]], hours: Sequence[int]) -> datetime:
    """The first of `moments` whose local hour has strictly more engagement than every earlier one."""
    best, hour = moments[0]
    score = hours[hour]
    for candidate, hour in moments[1:]:
        if hours[hour] > score:
            best, score = candidate, hours[hour]
    return best
