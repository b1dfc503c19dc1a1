"""The winner of a content test (SPEC §11): hand-computed tests of proportions and of means, and the verdict."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.experiments import Arm, Experiment, Ledger, next_check, p_value, verdict
from engine.model import Metric, WinnerRule
from engine.significance import incomplete_beta, t_two_sided, two_proportions, welch

CLICKS = WinnerRule(Metric.CLICKED, timedelta(days=3), 200, 0.95)
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def clicks(recipients: int, clicked: int) -> Arm:
    return Arm(recipients=recipients, clicked=clicked)


# ---- the tests themselves, against values worked out by hand or read from tables -------------------------

def test_thirty_of_a_hundred_against_twenty_of_a_hundred() -> None:
    # pooled p = 0.25, se = sqrt(0.25 * 0.75 * (1/100 + 1/100)) = 0.0612372, z = 0.10 / se = 1.632993;
    # chi-square of the 2x2 table = z² = 2.6667, p = 0.1025
    z, p = two_proportions(30, 100, 20, 100)
    assert z == pytest.approx(1.632993, abs=1e-6)
    assert p == pytest.approx(0.102470, abs=1e-5)


def test_fifteen_percent_against_ten_percent_of_a_thousand_each() -> None:
    # pooled 0.125, se = sqrt(0.125 * 0.875 * 0.002) = 0.0147902, z = 0.05 / se = 3.380617
    z, p = two_proportions(150, 1000, 100, 1000)
    assert z == pytest.approx(3.380617, abs=1e-6)
    assert p == pytest.approx(7.232e-4, abs=1e-6)


def test_arms_that_all_or_never_click_alike_differ_in_nothing() -> None:
    assert two_proportions(0, 50, 0, 80) == (0.0, 1.0)
    assert two_proportions(50, 50, 80, 80) == (0.0, 1.0)


@pytest.mark.parametrize(("t", "df", "p"), [
    (12.706205, 1, 0.05),       # tables of Student's t, two-sided 5%
    (2.570582, 5, 0.05),
    (2.228139, 10, 0.05),
    (1.812461, 10, 0.10),
    (2.0, 10, 0.073388),
    (1.959964, 1e7, 0.05),      # the normal limit
])
def test_student_t_matches_the_tables(t: float, df: float, p: float) -> None:
    assert t_two_sided(t, df) == pytest.approx(p, abs=2e-6)


def test_the_incomplete_beta_has_its_closed_forms() -> None:
    # I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b
    assert incomplete_beta(1, 1, 0.3) == pytest.approx(0.3)
    assert incomplete_beta(2.5, 1, 0.4) == pytest.approx(0.4 ** 2.5)
    assert incomplete_beta(1, 3.5, 0.7) == pytest.approx(1 - 0.3 ** 3.5)


def test_welch_on_two_small_samples() -> None:
    # 1..5: mean 3, variance 2.5; 2, 4, .. 10: mean 6, variance 10. se² = 2.5/5 + 10/5 = 2.5,
    # t = -3 / sqrt(2.5) = -1.897367, df = 2.5² / (0.5²/4 + 2²/4) = 6.25 / 1.0625 = 5.882353;
    # between the 10% critical values of 5 df (2.015) and 6 df (1.943): p just above 0.10
    t, df, p = welch(3, 2.5, 5, 6, 10, 5)
    assert t == pytest.approx(-1.897367, abs=1e-6)
    assert df == pytest.approx(5.882353, abs=1e-6)
    assert 0.10 < p < 0.11
    assert p == pytest.approx(t_two_sided(1.897367, 5.882353), abs=1e-6)


def test_welch_without_spread_is_certain_of_a_difference_and_of_none() -> None:
    assert welch(5, 0, 10, 5, 0, 10)[2] == 1.0
    assert welch(5, 0, 10, 4, 0, 10)[2] == 0.0


def test_revenue_per_recipient_uses_welch() -> None:
    # A: 10 recipients, 2 spent 50 each: mean 10, variance (5000 - 100²/10) / 9 = 444.44
    a = Arm(recipients=10, converted=2, revenue=100.0, squares=5000.0)
    b = Arm(recipients=10, converted=0)
    assert a.rate(Metric.REVENUE) == 10.0
    assert a.variance() == pytest.approx(4000 / 9)
    assert p_value(Metric.REVENUE, a, b) == pytest.approx(welch(10, 4000 / 9, 10, 0, 0, 10)[2])


# ---- the verdict -------------------------------------------------------------------------------------------

def test_the_clearly_better_variant_wins() -> None:
    assert verdict(CLICKS, {"A": clicks(1000, 100), "B": clicks(1000, 150)}, ["A", "B"]) == "B"


def test_no_winner_before_every_variant_has_its_minimum() -> None:
    assert verdict(CLICKS, {"A": clicks(199, 0), "B": clicks(1000, 900)}, ["A", "B"]) is None


def test_no_winner_below_the_confidence_asked_for() -> None:
    strict = WinnerRule(Metric.CLICKED, timedelta(days=3), 200, 0.9999)   # p = 0.0007 is not < 0.0001
    assert verdict(strict, {"A": clicks(1000, 100), "B": clicks(1000, 150)}, ["A", "B"]) is None


def test_a_winner_must_beat_every_other_variant() -> None:
    arms = {"A": clicks(1000, 100), "B": clicks(1000, 150), "C": clicks(1000, 145)}
    assert verdict(CLICKS, arms, ["A", "B", "C"]) is None


def test_a_holdout_never_wins_even_when_it_converts_best() -> None:
    rule = WinnerRule(Metric.CONVERTED, timedelta(days=3), 200, 0.95)
    arms = {"A": Arm(1000, converted=100), "B": Arm(1000, converted=101), "H": Arm(1000, converted=300)}
    assert verdict(rule, arms, ["A", "B"]) is None


def test_checks_are_daily_until_thirty_days_past_the_first_send() -> None:
    assert next_check(CLICKS, T0, T0 + timedelta(days=3)) == T0 + timedelta(days=4)
    assert next_check(CLICKS, T0, T0 + timedelta(days=29, hours=12)) == T0 + timedelta(days=30)
    assert next_check(CLICKS, T0, T0 + timedelta(days=30)) is None
    long = WinnerRule(Metric.CLICKED, timedelta(days=40), 200, 0.95)
    assert next_check(long, T0, T0 + timedelta(days=40)) is None


arm_counts = st.integers(1, 3000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))


@given(arm_counts, arm_counts)
def test_the_test_is_symmetric(a: tuple[int, int], b: tuple[int, int]) -> None:
    x, y = clicks(*a), clicks(*b)
    assert p_value(Metric.CLICKED, x, y) == pytest.approx(p_value(Metric.CLICKED, y, x))
    assert 0.0 <= p_value(Metric.CLICKED, x, y) <= 1.0


@given(arm_counts, arm_counts)
def test_the_verdict_does_not_depend_on_the_order_of_the_arms(a: tuple[int, int], b: tuple[int, int]) -> None:
    rule = WinnerRule(Metric.CLICKED, timedelta(days=1), 1, 0.95)
    one = verdict(rule, {"A": clicks(*a), "B": clicks(*b)}, ["A", "B"])
    other = verdict(rule, {"B": clicks(*b), "A": clicks(*a)}, ["B", "A"])
    assert one == other
    if one is not None:
        loser = "B" if one == "A" else "A"
        assert clicks(*(a if one == "A" else b)).rate(Metric.CLICKED) > clicks(*(b if loser == "B" else a)).rate(Metric.CLICKED)


@given(arm_counts, arm_counts, st.integers(1, 5000))
def test_no_winner_while_an_arm_lacks_recipients(a: tuple[int, int], b: tuple[int, int], minimum: int) -> None:
    rule = WinnerRule(Metric.CLICKED, timedelta(days=1), minimum, 0.95)
    if min(a[0], b[0]) < minimum:
        assert verdict(rule, {"A": clicks(*a), "B": clicks(*b)}, ["A", "B"]) is None


# ---- the ledger --------------------------------------------------------------------------------------------

def test_the_ledger_counts_opens_clicks_and_goal_values_per_exposure() -> None:
    key = ("promo", "offer")
    ledger = Ledger({key: Experiment("promo", "offer", CLICKS, ("A", "B"), ("A", "B"), "A")})
    assert ledger.expose("promo", "offer", "A", "c1", "m1", T0) is True
    assert ledger.expose("promo", "offer", "B", "c2", "m2", T0) is False
    ledger.expose("promo", "offer", "B", "c3", "m3", T0)
    ledger.event("email_clicked", {"message_id": "m2"})
    ledger.event("email_clicked", {"message_id": "m2"})       # a second click of one message counts once
    ledger.event("email_opened", {"message_id": "m3"})
    ledger.record({"type": "converted", "journey": "promo", "customer_id": "c2", "value": 40.0})
    ledger.record({"type": "converted", "journey": "other", "customer_id": "c3", "value": 99.0})
    assert ledger.arms(key) == {"A": Arm(1), "B": Arm(2, opened=2, clicked=1, converted=1, revenue=40.0, squares=1600.0)}
    assert ledger.started[key] == T0
