"""Time maths in the customer's zone (SPEC §4 wait_until and date triggers, §5 rule 6 quiet hours).

Every instant is written out in UTC by hand, so a test fails when the engine's zone maths
drifts from the wall clock a customer reads.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.model import QuietHours
from engine.scheduling import customer_zone, next_date_occurrence, next_local_time, parse_date, quiet_until
from engine.testing import Harness, email, journey_yaml

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")   # 2026: summer time from Sun 8 March 02:00, to Sun 1 November 02:00
LONDON = ZoneInfo("Europe/London")        # 2026: BST from Sun 29 March 01:00 UTC, to Sun 25 October 01:00 UTC
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
OVERNIGHT = QuietHours(time(21, 0), time(8, 0))
LUNCH = QuietHours(time(12, 0), time(14, 0))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def hello_journey(journey_id: str, trigger: str = "{event: signup}", wait_until: str | None = None, *,
                  reentry: str | None = None, subject: str = "Hi", settings: str = "") -> Harness:
    """A Harness over one journey: on `trigger`, a `wait_until` when given, then the email `hello`."""
    steps = (f"  - wait_until: {wait_until}\n" if wait_until else "") + "  - send: email\n    template: hello\n"
    return Harness(settings=settings, journeys={journey_id: journey_yaml(journey_id, trigger, steps, reentry=reentry)},
                   templates={"hello.email.html": email(subject)})


def signup(at: str, customer: str = "c1", **traits: str) -> dict[str, Any]:
    """A sign-up whose traits are an address (a@example.com unless given) and `traits`."""
    return {"type": "signup", "customer_id": customer, "timestamp": at, "traits": {"email": "a@example.com", **traits}}


def sent_at(h: Harness) -> list[str]:
    return [r["at"] for r in h.of("send", status="sent")]


# ---- next_local_time (wait_until) ------------------------------------------------

def test_a_time_later_today_is_today() -> None:
    assert next_local_time(utc("2026-03-02T14:00:00Z"), time(10, 0), NEW_YORK) == utc("2026-03-02T15:00:00Z")


def test_a_time_already_past_today_is_tomorrow() -> None:
    assert next_local_time(utc("2026-03-02T16:00:00Z"), time(10, 0), NEW_YORK) == utc("2026-03-03T15:00:00Z")


def test_exactly_now_is_now_not_tomorrow() -> None:
    now = utc("2026-03-02T15:00:00Z")  # 10:00 EST
    assert next_local_time(now, time(10, 0), NEW_YORK) == now


def test_one_second_past_the_time_waits_a_whole_day() -> None:
    now = utc("2026-03-02T15:00:01Z")
    assert next_local_time(now, time(10, 0), NEW_YORK) == utc("2026-03-03T15:00:00Z")


def test_the_utc_offset_follows_the_date_of_the_moment_not_of_now() -> None:
    # Saturday 7 March is EST (-5); Monday 9 March is EDT (-4).
    assert next_local_time(utc("2026-03-07T16:00:00Z"), time(10, 0), NEW_YORK) == utc("2026-03-08T14:00:00Z")
    assert next_local_time(utc("2026-03-09T12:00:00Z"), time(10, 0), NEW_YORK) == utc("2026-03-09T14:00:00Z")


def test_a_time_in_the_spring_forward_gap_resolves_as_fold_0() -> None:
    # 02:30 does not exist on 8 March in New York; fold=0 reads it with the offset before the change (EST).
    due = next_local_time(utc("2026-03-08T05:00:00Z"), time(2, 30), NEW_YORK)
    assert due == utc("2026-03-08T07:30:00Z")
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_the_day_after_the_gap_has_its_own_0230() -> None:
    due = next_local_time(utc("2026-03-08T08:00:00Z"), time(2, 30), NEW_YORK)
    assert due == utc("2026-03-09T06:30:00Z")


def test_an_ambiguous_time_in_the_autumn_fold_is_the_first_one() -> None:
    # 01:30 happens twice on 1 November: first in EDT (05:30Z), then in EST (06:30Z).
    due = next_local_time(utc("2026-11-01T04:00:00Z"), time(1, 30), NEW_YORK)
    assert due == utc("2026-11-01T05:30:00Z")
    assert due.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"


def test_between_the_two_occurrences_of_a_fold_time_the_second_one_is_next() -> None:
    now = utc("2026-11-01T05:45:00Z")  # 01:45 EDT, after the first 01:30
    assert next_local_time(now, time(1, 30), NEW_YORK) == utc("2026-11-01T06:30:00Z")


def test_days_skip_to_the_first_listed_weekday() -> None:
    now = utc("2026-03-04T12:00:00Z")  # Wednesday 07:00 EST
    due = next_local_time(now, time(9, 0), NEW_YORK, frozenset({MON}))
    assert due == utc("2026-03-09T13:00:00Z")  # Monday 9 March, 09:00 EDT
    assert due.astimezone(NEW_YORK).weekday() == MON


def test_days_include_today_when_the_time_is_still_ahead() -> None:
    now = utc("2026-03-04T12:00:00Z")  # Wednesday 07:00 EST
    assert next_local_time(now, time(9, 0), NEW_YORK, frozenset({WED, FRI})) == utc("2026-03-04T14:00:00Z")


def test_days_with_the_time_past_today_wait_a_full_week() -> None:
    now = utc("2026-03-04T15:00:00Z")  # Wednesday 10:00 EST
    assert next_local_time(now, time(9, 0), NEW_YORK, frozenset({WED})) == utc("2026-03-11T13:00:00Z")


def test_days_are_weekdays_of_the_customers_calendar_not_of_utc() -> None:
    # Tuesday 22:00 in New York is already Wednesday in UTC: the next Wednesday 08:00 is local tomorrow.
    now = utc("2026-03-04T03:00:00Z")
    assert now.astimezone(NEW_YORK).weekday() == TUE
    assert next_local_time(now, time(8, 0), NEW_YORK, frozenset({WED})) == utc("2026-03-04T13:00:00Z")


def test_wait_until_in_a_journey_waits_in_the_customers_zone_and_on_the_listed_days() -> None:
    h = hello_journey("weekly", wait_until='{time: "09:00", days: [mon]}')
    h.run([signup("2026-03-04T12:00:00Z", timezone="America/New_York")])
    assert sent_at(h) == ["2026-03-09T13:00:00Z"]


def test_wait_until_in_a_journey_resolves_a_gap_time_with_fold_0() -> None:
    h = hello_journey("night", wait_until='{time: "02:30"}')
    h.run([signup("2026-03-08T05:00:00Z", timezone="America/New_York")])
    assert sent_at(h) == ["2026-03-08T07:30:00Z"]


def test_wait_until_exactly_now_goes_on_at_once() -> None:
    h = hello_journey("now", wait_until='{time: "10:00"}')
    h.run([signup("2026-03-02T10:00:00Z")])
    assert sent_at(h) == ["2026-03-02T10:00:00Z"]


# ---- quiet hours -----------------------------------------------------------------

@pytest.mark.parametrize(("local", "quiet"), [
    ("20:59", False), ("21:00", True), ("23:59", True), ("00:00", True), ("07:59", True), ("08:00", False),
    ("12:00", False),
])
def test_overnight_quiet_hours_start_inclusive_end_exclusive(local: str, quiet: bool) -> None:
    assert OVERNIGHT.contains(time.fromisoformat(local)) is quiet


@pytest.mark.parametrize(("local", "quiet"), [
    ("11:59", False), ("12:00", True), ("13:59", True), ("14:00", False), ("00:00", False), ("23:00", False),
])
def test_same_day_quiet_hours_start_inclusive_end_exclusive(local: str, quiet: bool) -> None:
    assert LUNCH.contains(time.fromisoformat(local)) is quiet


@pytest.mark.parametrize("local", ["00:00", "08:00", "08:01", "12:00", "23:59"])
def test_quiet_hours_whose_start_equals_their_end_are_never_quiet(local: str) -> None:
    assert QuietHours(time(8, 0), time(8, 0)).contains(time.fromisoformat(local)) is False


def test_outside_quiet_hours_nothing_waits() -> None:
    assert quiet_until(utc("2026-03-02T14:00:00Z"), OVERNIGHT, NEW_YORK) is None  # 09:00 EST
    assert quiet_until(utc("2026-03-02T14:00:00Z"), None, NEW_YORK) is None


def test_late_evening_waits_for_the_end_of_quiet_hours_the_next_morning() -> None:
    # 22:00 EST on Monday 2 March -> 08:00 EST on Tuesday.
    assert quiet_until(utc("2026-03-03T03:00:00Z"), OVERNIGHT, NEW_YORK) == utc("2026-03-03T13:00:00Z")


def test_early_morning_waits_for_the_end_of_quiet_hours_the_same_morning() -> None:
    assert quiet_until(utc("2026-03-03T10:00:00Z"), OVERNIGHT, NEW_YORK) == utc("2026-03-03T13:00:00Z")


def test_at_the_start_of_quiet_hours_it_waits() -> None:
    assert quiet_until(utc("2026-03-03T02:00:00Z"), OVERNIGHT, NEW_YORK) == utc("2026-03-03T13:00:00Z")


def test_at_the_end_of_quiet_hours_it_no_longer_waits() -> None:
    assert quiet_until(utc("2026-03-03T13:00:00Z"), OVERNIGHT, NEW_YORK) is None


def test_same_day_quiet_hours_end_the_same_afternoon() -> None:
    assert quiet_until(utc("2026-03-02T17:30:00Z"), LUNCH, NEW_YORK) == utc("2026-03-02T19:00:00Z")  # 12:30 -> 14:00 EST


def test_quiet_hours_are_read_in_the_customers_zone() -> None:
    now = utc("2026-03-02T22:00:00Z")  # 22:00 in London (quiet), 17:00 in New York (not)
    assert quiet_until(now, OVERNIGHT, LONDON) == utc("2026-03-03T08:00:00Z")
    assert quiet_until(now, OVERNIGHT, NEW_YORK) is None


def test_quiet_hours_end_at_local_0800_on_the_night_london_springs_forward() -> None:
    # 22:00 GMT on Saturday 28 March; on Sunday 29 March, 08:00 is BST, i.e. 07:00Z.
    assert quiet_until(utc("2026-03-28T22:00:00Z"), OVERNIGHT, LONDON) == utc("2026-03-29T07:00:00Z")


def test_quiet_hours_end_at_local_0800_on_the_night_london_falls_back() -> None:
    # 22:00 BST on Saturday 24 October (21:00Z); on Sunday 25 October, 08:00 is GMT, i.e. 08:00Z.
    assert quiet_until(utc("2026-10-24T21:00:00Z"), OVERNIGHT, LONDON) == utc("2026-10-25T08:00:00Z")


def test_quiet_hours_across_the_london_change_hold_an_email_until_local_0800() -> None:
    h = hello_journey("late", settings='quiet_hours: {start: "21:00", end: "08:00"}')
    h.run([signup("2026-03-28T22:00:00Z", timezone="Europe/London")])
    assert sent_at(h) == ["2026-03-29T07:00:00Z"]


def test_quiet_hours_ending_inside_the_autumn_fold_end_at_the_second_pass() -> None:
    quiet = QuietHours(time(0, 0), time(1, 30))
    now = utc("2026-11-01T06:15:00Z")  # 01:15 EST, the second 01:15 of the night: inside quiet hours
    assert quiet.contains(now.astimezone(NEW_YORK).time())
    assert quiet_until(now, quiet, NEW_YORK) == utc("2026-11-01T06:30:00Z")


# ---- dates -----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("1990-05-17", date(1990, 5, 17)),
    ("2026-05-17T23:30:00-07:00", date(2026, 5, 17)),  # the date as written, not as UTC
    ("2026-05-17T23:30:00Z", date(2026, 5, 17)),
    (" 1990-05-17 ", date(1990, 5, 17)),
    ("17/05/1990", None), ("", None), (19900517, None), (None, None),
])
def test_a_date_trait_is_read_as_written(value: object, expected: date | None) -> None:
    assert parse_date(value) == expected


def test_a_one_off_date_fires_at_the_local_time_on_that_day() -> None:
    due = next_date_occurrence(utc("2026-01-01T00:00:00Z"), date(2026, 6, 1), timedelta(0), time(10, 0), NEW_YORK, False)
    assert due == utc("2026-06-01T14:00:00Z")


def test_a_one_off_date_in_the_past_never_fires() -> None:
    assert next_date_occurrence(utc("2026-06-02T00:00:00Z"), date(2026, 6, 1), timedelta(0), time(10, 0),
                                NEW_YORK, False) is None


def yearly_at_ten_in_new_york(now: str, day: date) -> datetime | None:
    """The next firing after `now` of a yearly date, no offset, at 10:00 in New York."""
    return next_date_occurrence(utc(now), day, timedelta(0), time(10, 0), NEW_YORK, True)


def test_a_yearly_date_fires_this_year_when_still_ahead() -> None:
    assert yearly_at_ten_in_new_york("2026-03-01T00:00:00Z", date(1990, 5, 17)) == utc("2026-05-17T14:00:00Z")


def test_a_yearly_date_already_past_this_year_fires_next_year() -> None:
    assert yearly_at_ten_in_new_york("2026-06-01T00:00:00Z", date(1990, 5, 17)) == utc("2027-05-17T14:00:00Z")


def test_29_february_falls_on_28_february_in_a_year_without_it() -> None:
    # A documented choice: the last day of February, not 1 March.
    assert yearly_at_ten_in_new_york("2026-01-01T00:00:00Z", date(2000, 2, 29)) == utc("2026-02-28T15:00:00Z")


def test_29_february_is_kept_in_a_leap_year() -> None:
    assert yearly_at_ten_in_new_york("2028-01-01T00:00:00Z", date(2000, 2, 29)) == utc("2028-02-29T15:00:00Z")


def test_a_whole_day_offset_across_spring_forward_keeps_the_local_time() -> None:
    # 10 March is EDT, 3 March EST: seven days before is not 7 x 24 hours before.
    due = next_date_occurrence(utc("2026-01-01T00:00:00Z"), date(2026, 3, 10), timedelta(days=-7), time(10, 0),
                               NEW_YORK, False)
    assert due == utc("2026-03-03T15:00:00Z")
    assert due.astimezone(NEW_YORK).strftime("%m-%d %H:%M") == "03-03 10:00"


def test_a_whole_day_offset_across_fall_back_keeps_the_local_time() -> None:
    due = next_date_occurrence(utc("2026-01-01T00:00:00Z"), date(2026, 10, 29), timedelta(days=7), time(10, 0),
                               NEW_YORK, False)
    assert due == utc("2026-11-05T15:00:00Z")  # 10:00 EST, though the date is 10:00 EDT


def test_an_offset_in_hours_is_absolute_time() -> None:
    # -36h = one day and a half: the day before yesterday at 10:00, plus 12 hours.
    due = next_date_occurrence(utc("2026-01-01T00:00:00Z"), date(2026, 6, 10), -timedelta(hours=36), time(10, 0),
                               NEW_YORK, False)
    assert due == utc("2026-06-08T14:00:00Z") + timedelta(hours=12)


def test_a_yearly_date_with_an_offset_into_the_previous_year_fires_again_next_year() -> None:
    after = utc("2026-12-27T15:00:01Z")  # just after this year's firing, 27 December 10:00 EST
    due = next_date_occurrence(after, date(1990, 1, 3), timedelta(days=-7), time(10, 0), NEW_YORK, True)
    assert due == utc("2027-12-27T15:00:00Z")


def test_a_yearly_birthday_reminder_a_week_ahead_fires_every_year() -> None:
    h = hello_journey("birthday", '{date: birthday, offset: -7d, at: "10:00", repeat: yearly}', reentry="after_exit",
                      subject="Soon!")
    h.run([signup("2026-12-01T00:00:00Z", birthday="1990-01-03", timezone="America/New_York")],
          until="2028-01-31T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-12-27T15:00:00Z", "2027-12-27T15:00:00Z"]


def test_a_yearly_date_trigger_fires_each_year_at_local_time() -> None:
    h = hello_journey("anniversary", '{date: joined_on, at: "10:00", repeat: yearly}', reentry="after_exit",
                      subject="Happy day")
    h.run([signup("2026-01-01T00:00:00Z", joined_on="2020-02-29", timezone="America/New_York")],
          until="2028-12-31T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == [
        "2026-02-28T15:00:00Z", "2027-02-28T15:00:00Z", "2028-02-29T15:00:00Z",
    ]


# ---- the customer's zone ---------------------------------------------------------

def test_a_valid_profile_timezone_is_used() -> None:
    assert customer_zone("Asia/Tokyo", "Europe/Paris") == ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize("bogus", [None, "", "Mars/Olympus_Mons", "../../etc/passwd", 5, ["UTC"], "   "])
def test_a_missing_or_bogus_profile_timezone_falls_back_to_the_workspace_zone(bogus: object) -> None:
    assert customer_zone(bogus, "Europe/Paris") == ZoneInfo("Europe/Paris")


def test_a_bogus_profile_timezone_in_a_journey_uses_the_workspace_zone() -> None:
    h = hello_journey("morning", wait_until='{time: "09:00"}', settings="timezone: Europe/Paris")
    h.run([
        signup("2026-03-02T00:00:00Z", "bogus"),
        signup("2026-03-02T00:00:00Z", "missing", email="b@example.com"),
        signup("2026-03-02T00:00:00Z", "tokyo", email="c@example.com", timezone="Asia/Tokyo"),
    ], profiles=[("bogus", {"timezone": "Nowhere/Special"})])  # events refuse it (SPEC §8); older state may hold it
    sent = {r["customer_id"]: r["at"] for r in h.of("send", status="sent")}
    assert sent == {
        "bogus": "2026-03-02T08:00:00Z",    # 09:00 CET
        "missing": "2026-03-02T08:00:00Z",
        "tokyo": "2026-03-02T00:00:00Z",    # 09:00 JST
    }
