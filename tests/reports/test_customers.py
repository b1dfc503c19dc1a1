"""Customer analytics on a four-customer purchase history, worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from math import isclose

from engine.reports.customers import customer_analytics, quintile_scores
from engine.reports.orders import Order, order_of

NOW = datetime(2026, 6, 30, tzinfo=timezone.utc)


def p(customer: str, day: str, amount: float) -> Order:
    return Order(f"{customer}-{day}", customer, datetime.fromisoformat(day + "T12:00:00+00:00"), amount)


HISTORY = [
    p("a", "2026-01-10", 50), p("a", "2026-02-15", 70), p("a", "2026-06-20", 30),  # last 10 days ago: active
    p("b", "2026-06-15", 200),                                                      # first 15 days ago: new
    p("c", "2026-02-01", 40), p("c", "2026-03-01", 40),                             # last 121 days ago: at risk
    p("d", "2025-12-01", 10),                                                       # 211 days ago: lapsed
    p("e", "2026-07-02", 99),                                                       # after the report's date: ignored
]


def test_lifecycle_stages_by_recency() -> None:
    assert customer_analytics(HISTORY, NOW)["lifecycle"] == {"new": 1, "active": 1, "at_risk": 1, "lapsed": 1}


def test_rfm_quintile_scores_and_segments() -> None:
    # R (days 10, 15, 121, 211; fewer is better) -> a4 b3 c2 d1; F (3, 1, 2, 1) -> a4 b1 c3 d1;
    # M (150, 200, 80, 10) -> a3 b4 c2 d1; score = 1 + 5 * (customers strictly worse) // 4
    result = customer_analytics(HISTORY, NOW)
    assert result["rfm"]["scores"] == {"a": "443", "b": "314", "c": "232", "d": "111"}
    segments = {name: s["customers"] for name, s in result["rfm"]["segments"].items() if s["customers"]}
    assert segments == {"champions": 1, "needs_attention": 1, "at_risk": 1, "hibernating": 1}


def test_equal_values_get_equal_scores() -> None:
    assert quintile_scores({"x": 1.0, "y": 1.0, "z": 5.0}) == {"x": 1, "y": 1, "z": 4}


def test_lifetime_value_is_the_value_per_customer_over_the_history_observed_never_projected() -> None:
    clv = customer_analytics(HISTORY, NOW)["clv"]
    # 440 over 7 orders = 62.857 on average; 7 orders / 4 customers; 440 / 4 = 110 per customer over the
    # 210.5 days from the first order (2025-12-01 12:00) to the report's date
    assert (clv["average_order_value"], clv["orders_per_customer"], clv["value_per_customer"]) == (62.86, 1.75, 110.0)
    assert clv["observed_days"] == 210.5 and clv["note"] is None


def test_lifetime_value_says_not_enough_history_below_ninety_days() -> None:
    # the case: every customer with one order, 0.13 years of history (14 May 12:00 to 30 June: 46.5 days)
    short = [p("a", "2026-05-14", 80), p("b", "2026-06-01", 120)]
    clv = customer_analytics(short, NOW)["clv"]
    assert clv["value_per_customer"] is None and clv["note"].startswith("not enough history: 46 days")


def test_monthly_retention_cohorts() -> None:
    cohorts = {r["cohort"]: r["active"] for r in customer_analytics(HISTORY, NOW)["cohorts"]}
    assert cohorts == {"2025-12": [1, 0, 0, 0, 0, 0, 0], "2026-01": [1, 1, 0, 0, 0, 1], "2026-02": [1, 1, 0, 0, 0],
                       "2026-06": [1]}


def test_orders_need_a_known_customer_and_a_numeric_total() -> None:
    event = {"id": "o1", "type": "order_completed", "timestamp": "2026-03-01T10:00:00+02:00", "properties": {"total": 12}}
    assert order_of(event, "c1", None) == Order("o1", "c1", datetime(2026, 3, 1, 8, tzinfo=timezone.utc), 12.0)
    assert order_of({**event, "properties": {"total": True}}, "c1", None) is None
    assert order_of({**event, "properties": {}}, "c1", None) is None
    assert customer_analytics([Order("o2", "anon:x", NOW, 5.0)], NOW)["customers"] == 0
