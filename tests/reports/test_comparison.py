"""Period over period, per template and per message, and every rate's base: small logs worked out by hand."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from engine.reports import ReportInput, build_report
from engine.reports.page import render_html
from engine.reports.period import Period, previous
from tests.reports.test_metrics import rec


def at(day: str, hour: int = 10) -> str:
    return f"2026-{day}T{hour:02d}:00:00Z"


def send(when: str, customer: str, mid: str, template: str = "hi", journey: str = "promo",
         step: str = "s1") -> dict[str, Any]:
    return rec(when, "send", customer, journey, step=step, channel="email", template=template, status="sent",
               message_id=mid, variant=None)


def order(oid: str, customer: str, when: str, total: float) -> dict[str, Any]:
    return {"id": oid, "type": "purchase", "customer_id": customer, "timestamp": when, "properties": {"total": total}}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


# January (outside both periods), February (the previous period), 1-28 March (the period)
RECORDS = [
    rec(at("01-20"), "entered", "c0"), send(at("01-20"), "c0", "m0"),
    rec(at("02-03"), "entered", "c1"), send(at("02-03"), "c1", "m1"),
    rec(at("02-10"), "entered", "c2"), send(at("02-10"), "c2", "m2"),
    rec(at("02-05"), "converted", "c1", value=40.0),
    rec(at("03-02"), "entered", "c3"), send(at("03-02"), "c3", "m3"),
    rec(at("03-04"), "entered", "c4"), send(at("03-04"), "c4", "m4"),
    rec(at("03-06"), "entered", "c5"), send(at("03-06"), "c5", "m5"),
    rec(at("03-08"), "entered", "c6"),
    rec(at("03-02", 11), "converted", "c3", value=60.0), rec(at("03-09"), "converted", "c6", value=0.0),
]
EVENTS = [
    {"id": "k1", "type": "email_clicked", "customer_id": "c1", "timestamp": at("02-04"),
     "properties": {"message_id": "m1"}},
    order("o1", "c1", at("02-05"), 40.0),          # after a click of m1: attributed in February
    order("o2", "c3", at("03-02", 11), 60.0),      # an hour after m3: attributed in March
]
PERIOD = Period(utc("2026-03-01T00:00:00Z"), utc("2026-03-28T23:59:59.999999Z"))


def test_the_previous_period_has_the_same_length_and_ends_just_before() -> None:
    assert previous(PERIOD, None) == Period(utc("2026-02-01T00:00:00Z"), utc("2026-02-28T23:59:59.999999Z"))
    open_end = Period(utc("2026-03-01T00:00:00Z"))
    assert previous(open_end, utc("2026-03-11T00:00:00Z")) == Period(utc("2026-02-19T00:00:00Z"),
                                                                      utc("2026-02-28T23:59:59.999999Z"))
    assert previous(Period(None, utc("2026-03-11T00:00:00Z")), None) is None   # no start: nothing before it


def test_period_over_period_totals_and_deltas_equal_the_hand_computed_ones() -> None:
    report = build_report(ReportInput(RECORDS, EVENTS, PERIOD, previous=previous(PERIOD, None)))
    c = report["comparison"]
    assert c["previous_period"] == {"since": "2026-02-01T00:00:00Z", "until": "2026-02-28T23:59:59.999999Z"}
    rows = {r["metric"]: (r["current"], r["previous"], r["change"], r["relative_change"]) for r in c["totals"]}
    assert rows == {"entered": (4, 2, 2, 1.0), "sent": (3, 2, 1, 0.5), "clicked": (0, 1, -1, -1.0),
                    "conversions": (2, 1, 1, 1.0), "orders": (1, 1, 0, 0.0), "attributed_revenue": (60.0, 40.0, 20.0, 0.5),
                    "click_rate": (0.0, 0.5, -0.5, None), "conversion_rate": (0.5, 0.5, 0.0, None)}
    assert {r["metric"]: (r["current"], r["previous"]) for r in c["revenue"]} == {"orders": (1, 1),
                                                                                 "order_total": (60.0, 40.0)}
    (promo,) = c["journeys"]
    assert {m["metric"]: m["change"] for m in promo["metrics"]}["entered"] == 2
    assert report["totals"]["entered"] == 4   # the period's own numbers are untouched by the comparison


def test_no_comparison_without_a_start() -> None:
    assert build_report(ReportInput(RECORDS, EVENTS))["comparison"] is None


def test_per_template_totals_sum_every_journey_and_step_that_sends_it() -> None:
    records = [rec(at("03-02"), "entered", "a", "welcome"), send(at("03-02"), "a", "w1", "hello", "welcome", "first"),
               rec(at("03-02"), "entered", "b", "promo"), send(at("03-02"), "b", "p1", "hello", "promo", "intro"),
               send(at("03-03"), "b", "p2", "offer", "promo", "offer"),
               send(at("03-04"), "a", "w2", "hello", "welcome", "again")]
    events = [{"id": "k", "type": "email_clicked", "customer_id": "b", "timestamp": at("03-03"),
               "properties": {"message_id": "p1"}}]
    report = build_report(ReportInput(records, events))
    templates = {t["id"]: (t["channel"], t["sent"], t["recipients"], t["clicked"]) for t in report["templates"]}
    assert templates == {"hello": ("email", 3, 2, 1), "offer": ("email", 1, 1, 0)}
    steps = {s["id"]: s["templates"] for j in report["journeys"] for s in j["steps"]}
    assert steps == {"first": ["hello"], "again": ["hello"], "intro": ["hello"], "offer": ["offer"]}
    html = render_html(report)
    assert '<table id="templates">' in html and '<table id="steps-promo">' in html


def test_every_percentage_header_of_the_html_report_states_its_base() -> None:
    from tests.reports.test_workload import workload_report
    html = workload_report()
    report = build_report(ReportInput(RECORDS, EVENTS, PERIOD, previous=previous(PERIOD, None)))
    html += render_html(report)
    headers = re.findall(r"<th( title=\"[^\"]+\")?>([^<]*)</th>", html)
    percentages = [(title, text) for title, text in headers
                   if re.search(r"rate|%|relative|month \d|interval|difference|change", text)]
    assert percentages and all(title for title, _ in percentages), [t for title, t in percentages if not title]


def test_progress_hears_every_50000_records_whether_or_not_a_period_is_compared() -> None:
    records = [rec(at("03-02"), "entered", f"c{i}") for i in range(120_000)]
    for period, before in ((Period(), None), (PERIOD, previous(PERIOD, None))):
        heard: list[int] = []
        report = build_report(ReportInput(records, [], period, previous=before), heard.append)
        assert heard == [50_000, 100_000] and report["totals"]["entered"] == 120_000
