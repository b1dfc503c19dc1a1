"""Time maths in the customer's zone: wall-clock times, quiet hours, dates (DST-correct)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.model import QuietHours

UTC = timezone.utc


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def customer_zone(profile_tz: object, default: str) -> ZoneInfo:
    """`profile.timezone` when it names a real zone, else the workspace default."""
    if isinstance(profile_tz, str) and (z := zone(profile_tz)) is not None:
        return z
    return zone(default) or ZoneInfo("UTC")


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """That wall-clock time on that day, in UTC; a DST-gap time resolves with fold=0."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def next_local_time(now: datetime, at: time, tz: ZoneInfo, days: frozenset[int] | None = None) -> datetime:
    """The first moment at or after `now` whose local time is `at` (on one of `days`).

    On the autumn night a wall-clock time happens twice (fold 0, then fold 1): between the two,
    the second is next. A time in a spring gap is read as fold 0 (the offset before the change).
    """
    today = now.astimezone(tz).date()
    for offset in range(-1, 9):
        day = today + timedelta(days=offset)
        if days is not None and day.weekday() not in days:
            continue
        first, second = (at_local(day, at.replace(fold=fold), tz) for fold in (0, 1))
        for candidate in (first, second) if first < second else (first,):  # twice only in an autumn fold
            if candidate >= now:
                return candidate
    raise AssertionError("a weekday repeats within a week")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def chosen_time(value: object) -> time | None:
    """A customer's chosen time of day: text `HH:MM` (24-hour; `7:30` too); anything else is None."""
    if not isinstance(value, str):
        return None
    hours, sep, minutes = value.strip().partition(":")
    if not sep or not hours.isdigit() or len(hours) > 2 or not minutes.isdigit() or len(minutes) != 2:
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def chosen_days(value: object) -> frozenset[int] | None:
    """A customer's chosen weekdays: a list of `mon`..`sun` (or full names, any case), or one such name.

    Anything else, an empty list or a list with one unknown name included, is None: the default applies.
    """
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        return None
    days = set()
    for name in names:
        word = name.strip().lower() if isinstance(name, str) else ""
        if word in WEEKDAYS:
            days.add(WEEKDAYS.index(word))
        elif word in _FULL_DAYS:
            days.add(_FULL_DAYS.index(word))
        else:
            return None
    return frozenset(days)


def quiet_until(now: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime | None:
    """When quiet hours end, if `now` is inside them; else None."""
    if quiet is None:
        return None
    local = now.astimezone(tz).time()
    if not quiet.contains(local):
        return None
    return next_local_time(now, quiet.end, tz)


def parse_date(value: object) -> date | None:
    """A date trait: `YYYY-MM-DD` or RFC 3339 (its date as written); anything else is None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _on_year(day: date, year: int) -> date:
    """The same month and day in another year; 29 February becomes the 28th."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def next_date_occurrence(now: datetime, day: date, offset: timedelta, at: time, tz: ZoneInfo,
                         yearly: bool) -> datetime | None:
    """The next firing of a date trigger at or after `now`, or None when it is past for good."""
    if not yearly:
        due = _shifted(day, offset, at, tz)
        return due if due >= now else None
    year = now.astimezone(tz).year - 1 - abs(offset.days) // 365
    for y in range(year, year + 3 + 2 * (abs(offset.days) // 365 + 1)):  # offsets may cross years
        due = _shifted(_on_year(day, y), offset, at, tz)
        if due >= now:
            return due
    return None


def _shifted(day: date, offset: timedelta, at: time, tz: ZoneInfo) -> datetime:
    """Whole days of the offset move the calendar date (DST-proof); the rest is absolute."""
    return at_local(day + timedelta(days=offset.days), at, tz) + timedelta(seconds=offset.seconds)
