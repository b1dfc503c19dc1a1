"""Funnels on small logs whose right answers were worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.reports.period import Period
from engine.testing import Harness, email


def rec(at: str, kind: str, customer: str, journey: str = "promo", **extra: Any) -> dict[str, Any]:
    return {"at": at, "customer_id": customer, "journey": journey, "type": kind, **extra}


def send(at: str, customer: str, mid: str, status: str = "sent", reason: str | None = None, step: str = "s1",
         journey: str = "promo", variant: str | None = None, channel: str = "email") -> dict[str, Any]:
    return rec(at, "send", customer, journey, step=step, channel=channel, status=status, reason=reason,
               variant=variant, message_id=mid, transactional=False)


def provider(kind: str, mid: str, at: str, n: int = 0) -> dict[str, Any]:
    return {"id": f"{kind}-{mid}-{n}", "type": kind, "customer_id": "x", "timestamp": at,
            "properties": {"message_id": mid}}


RECORDS = [
    rec("2026-03-01T10:00:00Z", "entered", "c1"),
    send("2026-03-01T10:00:00Z", "c1", "m1"),
    rec("2026-03-01T11:00:00Z", "entered", "c2"),
    send("2026-03-01T11:00:00Z", "c2", "m2"),
    rec("2026-03-01T12:00:00Z", "entered", "c3"),
    send("2026-03-01T12:00:00Z", "c3", "m3", status="suppressed", reason="unsubscribed"),
    rec("2026-03-02T09:00:00Z", "converted", "c1", value=30.0),
    rec("2026-03-03T09:00:00Z", "converted", "c2", value=45.5),
]
EVENTS = [
    provider("email_delivered", "m1", "2026-03-01T10:01:00Z"),
    provider("email_delivered", "m1", "2026-03-01T10:01:00Z", 1),   # a provider retry: the same fact twice
    *(provider("email_opened", "m1", "2026-03-01T10:30:00Z", n) for n in range(3)),  # three opens, one message
    provider("email_clicked", "m1", "2026-03-02T08:00:00Z"),
    provider("email_opened", "m2", "2026-03-02T07:00:00Z"),          # no delivery event ever came
    provider("unsubscribed", "m2", "2026-03-02T07:05:00Z"),
    provider("email_opened", "m9", "2026-03-02T07:00:00Z"),          # a message this log never sent
    {"id": "p1", "type": "page_viewed", "customer_id": "c1", "timestamp": "2026-03-01T10:00:00Z"},
]


def report(records: list[dict[str, Any]], events: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    return build_report(ReportInput(records, events or [], **kw))


def test_unique_counts_per_message_and_opens_without_delivery_count_as_delivered() -> None:
    (j,) = report(RECORDS, EVENTS)["journeys"]
    assert {k: j[k] for k in ("id", "entered", "sent", "delivered", "opened", "clicked", "conversions", "goal_value",
                              "unsubscribed", "bounced", "recipients")} == {
        "id": "promo", "entered": 3, "sent": 2, "delivered": 2, "opened": 2, "clicked": 1, "conversions": 2,
        "goal_value": 75.5, "unsubscribed": 1, "bounced": 0, "recipients": 2}
    assert j["suppressed"] == {"unsubscribed": 1}
    rates = j["rates"]
    assert rates["open_rate"] == 1.0 and rates["click_rate"] == 0.5 and rates["click_to_open_rate"] == 0.5
    assert rates["conversion_rate"] == 2 / 3
    assert rates["unsubscribe_rate"] == 0.5


def test_steps_get_last_touch_conversions_and_provider_events_of_unknown_messages_are_counted_apart() -> None:
    result = report(RECORDS, EVENTS)
    (step,) = result["journeys"][0]["steps"]
    assert (step["id"], step["channel"], step["sent"], step["conversions"], step["goal_value"]) == ("s1", "email", 2, 2, 75.5)
    assert result["unattributed_provider_events"] == {"email_opened": 1}


def test_daily_series_counts_each_thing_on_the_day_it_happened() -> None:
    daily = report(RECORDS, EVENTS)["journeys"][0]["daily"]
    assert [(d["date"], d["entered"], d["sent"], d["delivered"], d["opened"], d["clicked"], d["conversions"])
            for d in daily] == [("2026-03-01", 3, 2, 1, 1, 0, 0), ("2026-03-02", 0, 0, 1, 1, 1, 1),
                                ("2026-03-03", 0, 0, 0, 0, 0, 1)]


def test_the_period_keeps_records_inside_it_and_the_journey_filter_keeps_one_journey() -> None:
    day2 = Period(datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 2, 23, 59, tzinfo=timezone.utc))
    (j,) = report(RECORDS, EVENTS, period=day2)["journeys"]
    assert (j["entered"], j["sent"], j["opened"], j["conversions"], j["goal_value"]) == (0, 0, 0, 1, 30.0)
    other = [rec("2026-03-01T10:00:00Z", "entered", "c9", journey="other")]
    assert [j["id"] for j in report(RECORDS + other, journey="other")["journeys"]] == ["other"]


def test_conversions_and_revenue_go_to_the_variant_the_customer_was_assigned() -> None:
    records = [
        rec("2026-03-01T10:00:00Z", "entered", "a1", "ab"), send("2026-03-01T10:00:00Z", "a1", "x1", journey="ab", variant="A"),
        rec("2026-03-01T10:00:00Z", "entered", "a2", "ab"), send("2026-03-01T10:00:00Z", "a2", "x2", journey="ab", variant="A"),
        rec("2026-03-01T10:00:00Z", "entered", "b1", "ab"),
        send("2026-03-01T10:00:00Z", "b1", "x3", journey="ab", variant="B", status="suppressed", reason="frequency_cap"),
        rec("2026-03-02T10:00:00Z", "converted", "b1", "ab", value=12.0),
        rec("2026-03-02T10:00:00Z", "converted", "a2", "ab", value=8.0),
    ]
    (j,) = report(records, [provider("email_clicked", "x2", "2026-03-01T12:00:00Z")])["journeys"]
    variants = {v["id"]: (v["entered"], v["sent"], v["clicked"], v["conversions"], v["goal_value"]) for v in j["variants"]}
    assert variants == {"A": (2, 2, 1, 1, 8.0), "B": (1, 0, 0, 1, 12.0)}


def test_bounces_complaints_and_failed_texts_count_once_per_message() -> None:
    records = [send("2026-03-01T10:00:00Z", "c1", "m1"), send("2026-03-01T10:00:00Z", "c2", "t1", channel="sms", step="s2")]
    events = [provider("email_bounced", "m1", "2026-03-01T10:01:00Z"), provider("email_bounced", "m1", "2026-03-01T10:01:00Z", 1),
              provider("email_complained", "m1", "2026-03-01T10:02:00Z"), provider("sms_failed", "t1", "2026-03-01T10:01:00Z")]
    result = report(records, events)
    assert (result["totals"]["bounced"], result["totals"]["complained"], result["totals"]["delivered"]) == (2, 1, 0)
    assert {c["id"]: c["bounced"] for c in result["channels"]} == {"email": 1, "sms": 1}


GOAL_JOURNEY = """\
id: promo
trigger: {event: signed_up}
goal: {event: purchase, within: 2d, value: "event.properties.total"}
steps:
  - id: hello
    send: email
    template: hi
"""


def test_conversions_just_inside_the_goal_window_count_and_just_outside_do_not() -> None:
    harness = Harness(journeys={"promo": GOAL_JOURNEY}, templates={"hi.email.html": email("Hi")})
    signup = {"type": "signed_up", "timestamp": "2026-03-01T10:00:00Z", "traits": {"email": "x@example.com"}}
    events = [
        {**signup, "id": "s1", "customer_id": "in"}, {**signup, "id": "s2", "customer_id": "out"},
        # exactly 2 days after entry: inside (the window is inclusive); the second order is not a second conversion
        {"id": "o1", "type": "purchase", "customer_id": "in", "timestamp": "2026-03-03T10:00:00Z", "properties": {"total": 20.0}},
        {"id": "o2", "type": "purchase", "customer_id": "in", "timestamp": "2026-03-03T11:00:00Z", "properties": {"total": 30.0}},
        # one second too late
        {"id": "o3", "type": "purchase", "customer_id": "out", "timestamp": "2026-03-03T10:00:01Z", "properties": {"total": 99.0}},
    ]
    records = harness.run(events, until="2026-03-10T00:00:00Z")
    result = report(records, events, catalog=Catalog.of(harness.workspace))
    (j,) = result["journeys"]
    assert (j["entered"], j["sent"], j["conversions"], j["goal_value"]) == (2, 2, 1, 20.0)
    assert result["customers"]["orders"] == 3 and result["customers"]["revenue"] == 149.0
