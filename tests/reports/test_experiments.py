"""Split statistics against published and hand-computed values."""

from __future__ import annotations

from math import isclose

from engine.reports.experiments import TOO_SMALL, compare, experiment
from engine.reports.metrics import Arm
from engine.reports.proportions import Sample, newcombe, t_quantile, two_proportion_p_value, welch, wilson


def test_wilson_interval_matches_newcombes_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, 81 of 263: 0.2553 to 0.3662
    ci = wilson(81, 263)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.2553, 0.3662)


def test_newcombe_difference_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 - 48/80 = 0.2, 0.0524 to 0.3339
    ci = newcombe(56, 70, 48, 80)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.0524, 0.3339)


def test_two_proportion_z_test_by_hand() -> None:
    # pooled p = 50/200 = 0.25; se = sqrt(0.25 * 0.75 * (1/100 + 1/100)) = 0.061237; z = 0.1 / se = 1.63299
    # two-sided p = 2 * (1 - Phi(1.63299)) = 0.10247 (the chi-square 2x2 without continuity: 2.6667, p 0.1025)
    assert isclose(two_proportion_p_value(30, 100, 20, 100), 0.10247, abs_tol=5e-5)
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0


def test_verdicts_call_a_winner_only_on_enough_data() -> None:
    assert compare("conversion rate", "B", 3, 20, "A", 1, 20).verdict == TOO_SMALL
    assert compare("conversion rate", "B", 30, 100, "A", 20, 100).verdict.startswith("No significant difference")
    win = compare("conversion rate", "B", 150, 1000, "A", 100, 1000)
    assert win.verdict.startswith("B beats A") and win.p_value < 0.05 and 0 < win.low < win.difference < win.high


def arm(customers: int, converted: int, revenue: float = 0.0, messages: int = 1) -> Arm:
    """The revenue spread evenly over the converted customers."""
    ids = [f"c{i}" for i in range(customers)]
    spend = {c: revenue / converted for c in ids[:converted]} if converted else {}
    return Arm(assigned=set(ids), converted=set(ids[:converted]), spend=spend, messages=messages)


def test_a_holdout_is_the_baseline_and_its_uplift_is_reported() -> None:
    result = experiment(("promo", "offer"), {"mail": arm(400, 60, revenue=3000.0), "holdout": arm(100, 10, revenue=400.0, messages=0)},
                        order=("mail", "holdout"))
    assert result is not None and result["baseline"] == "holdout"
    (conv,) = result["comparisons"]
    # 15% against 10%: +5 points; relative uplift 50%; 0.05 * 400 = 20 extra conversions;
    # revenue per customer 7.50 against 4.00, so 3.50 * 400 = 1,400 extra
    assert isclose(conv["difference"], 0.05) and isclose(conv["uplift"]["relative"], 0.5)
    assert isclose(conv["uplift"]["incremental_conversions"], 20.0) and conv["uplift"]["incremental_revenue"] == 1400.0


def test_a_split_with_one_variant_is_no_experiment() -> None:
    assert experiment(("promo", "offer"), {"A": arm(10, 1)}) is None


def test_student_t_quantiles_match_the_tables() -> None:
    # two-sided 95%: 2.5706 (5 df), 2.2281 (10), 2.0423 (30)
    for df, table in ((5, 2.5706), (10, 2.2281), (30, 2.0423)):
        assert isclose(t_quantile(0.975, df), table, abs_tol=1e-3)


def test_welch_interval_of_a_difference_of_means_by_hand() -> None:
    # a: 10 customers, mean 5, variance 4; b: 20 customers, mean 3, variance 9.
    # se² = 4/10 + 9/20 = 0.85; df = 0.85² / (0.4²/9 + 0.45²/19) = 25.41; t(0.975, 25.41) = 2.0577
    a = Sample(10, 50.0, 4 * 9 + 50.0 ** 2 / 10)
    b = Sample(20, 60.0, 9 * 19 + 60.0 ** 2 / 20)
    ci = welch(a, b)
    assert isclose(ci.low, 2 - 2.0577 * 0.85 ** 0.5, abs_tol=2e-3) and isclose(ci.high, 2 + 2.0577 * 0.85 ** 0.5, abs_tol=2e-3)
