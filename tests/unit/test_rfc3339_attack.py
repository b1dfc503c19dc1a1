"""SPEC §2: a timestamp is RFC 3339 with an offset; Python's fromisoformat also reads other ISO 8601 forms and
any character between date and time, which are refused with the example of the expected form."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rules.events import parse_timestamp


@pytest.mark.parametrize("value", [
    "2026-03-01é12:00:00Z", "2026-03-01X12:00:00Z", "20260301T120000Z", "2026-W09-1T12:00:00Z", "2026-03-01T12Z",
    "2026-03-01T12:00Z", "2026-03-01T1200Z", "2026-03-01T12:00:00 Z", "2026-03-01T12:00:00+0100", "2026-03-01T12:00:00+01",
    "2026-03-01T12:00:00+01:00:00", "2026-03-01T12:00:00.5+01:00:00.123", "2026-03-01T12:00:00.Z",
    "\uff12026-03-01T12:00:00Z", "2026-03-01T12:00:00Z\n",
])
def test_an_iso_form_that_is_not_rfc_3339_is_refused_naming_the_form(value: str) -> None:
    with pytest.raises(ValueError, match="is not RFC 3339, e.g. 2026-03-01T12:00:00Z"):
        parse_timestamp(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("2026-03-01t12:00:00z", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("2026-03-01 13:00:00+01:00", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("2026-03-01T12:00:00.5Z", datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)),
    ("2026-03-01T12:00:00.123456789-00:00", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)),
    ("2026-03-01T12:00:00.000+00:00", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
])
def test_every_rfc_3339_form_is_read(value: str, expected: datetime) -> None:
    assert parse_timestamp(value) == expected
