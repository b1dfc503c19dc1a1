"""The window a report covers, and the one timestamp parser every log goes through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


def parse_at(value: str) -> datetime:
    """RFC 3339 (a `Z` or an offset) to an aware UTC datetime; a naive one is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


@dataclass(frozen=True)
class Period:
    """Inclusive at both ends; None is open."""

    since: datetime | None = None
    until: datetime | None = None

    def contains(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)

    def as_dict(self) -> dict[str, str | None]:
        return {"since": _iso(self.since), "until": _iso(self.until)}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def previous(period: Period, latest: datetime | None) -> Period | None:
    """The period of the same length just before `period` (ending the instant before its start), to compare with;
    an open end is `latest` (the newest record). None when the period has no start."""
    if period.since is None:
        return None
    # an end date covers its whole day (…23:59:59.999999): its period is whole days long
    length = (period.until + timedelta(microseconds=1) if period.until else latest or period.since) - period.since
    if length <= timedelta(0):
        return None
    return Period(period.since - length, period.since - timedelta(microseconds=1))
