"""Content tests in the report (SPEC §11): each tested send step with its arms, rates, intervals, verdict and winner.

The unit is the message sent while the test ran (sends that used a chosen winner are counted
apart, in `sent_with_winner`). Each variant is compared with the default content on the test's
metric (`clicked` when the step names no `winner:`): proportions by the two-proportion z test with
Newcombe's interval, revenue per recipient by Welch's t. The verdict applies the step's own rule
(its minimum per variant and confidence), as the engine does when it decides.
"""

from __future__ import annotations

from math import sqrt
from typing import Any, Mapping

from engine.experiments import Arm, Experiment, ExperimentKey, Ledger, verdict
from engine.model import Metric
from engine.reports.experiments import compare
from engine.reports.proportions import Interval, Sample, t_quantile, welch, wilson
from engine.significance import welch as welch_test

METRIC_NAMES = {Metric.OPENED: "open rate", Metric.CLICKED: "click rate", Metric.CONVERTED: "conversion rate",
                Metric.REVENUE: "revenue per recipient"}


def content_experiments(ledger: Ledger, winners: Mapping[ExperimentKey, Mapping[str, Any]],
                        with_winner: Mapping[ExperimentKey, int]) -> list[dict[str, Any]]:
    """Every content test that sent something, in the order first seen."""
    return [content_experiment(ledger.experiments[key], ledger.arms(key), winners.get(key), with_winner.get(key, 0))
            for key in ledger.started]


def winner_of(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if record is None else {"variant": record.get("variant"), "at": record.get("at"),
                                        "reason": record.get("reason")}


def content_experiment(e: Experiment, arms: Mapping[str, Arm], winner: Mapping[str, Any] | None,
                       with_winner: int) -> dict[str, Any]:
    metric = e.rule.metric if e.rule is not None else Metric.CLICKED
    baseline = e.default if e.default in arms else next(iter(arms))
    base = arms[baseline]
    comparisons = [_compare(metric, name, arm, baseline, base) for name, arm in arms.items()
                   if name != baseline and arm.recipients and base.recipients]
    return {"key": f"{e.journey}/{e.step}", "kind": "content", "journey": e.journey, "step": e.step, "split": None,
            "metric": metric.value, "metric_name": METRIC_NAMES[metric], "baseline": baseline,
            "rule": None if e.rule is None else {"after": e.rule.after.total_seconds(),
                                                 "min_per_variant": e.rule.min_per_variant,
                                                 "confidence": e.rule.confidence},
            "variants": [_variant(name, arm, metric) for name, arm in arms.items()],
            "comparisons": comparisons, "winner": winner_of(winner), "sent_with_winner": with_winner,
            "verdict": _verdict(e, arms, metric, winner)}


def _variant(name: str, arm: Arm, metric: Metric) -> dict[str, Any]:
    n = arm.recipients
    interval = _interval(arm, metric)

    def share(part: float) -> float:
        return part / n if n else 0.0

    return {"variant": name, "recipients": n, "opened": arm.opened, "open_rate": share(arm.opened),
            "clicked": arm.clicked, "click_rate": share(arm.clicked), "converted": arm.converted,
            "conversion_rate": share(arm.converted), "revenue": round(arm.revenue, 2),
            "revenue_per_recipient": share(arm.revenue), "rate": arm.rate(metric), "ci95": [interval.low, interval.high]}


def _interval(arm: Arm, metric: Metric) -> Interval:
    """Wilson's interval of a rate; for revenue per recipient, the mean ± Student's t × its standard error."""
    if metric is not Metric.REVENUE:
        return wilson(arm.successes(metric), arm.recipients)
    n = arm.recipients
    if n < 2:
        return Interval(0.0, 0.0) if n == 0 else Interval(arm.revenue, arm.revenue)
    half = t_quantile(0.975, n - 1) * sqrt(arm.variance() / n)
    mean = arm.revenue / n
    return Interval(mean - half, mean + half)


def _compare(metric: Metric, name: str, arm: Arm, baseline: str, base: Arm) -> dict[str, Any]:
    if metric is not Metric.REVENUE:
        return compare(METRIC_NAMES[metric], name, arm.successes(metric), arm.recipients, baseline,
                       base.successes(metric), base.recipients).as_dict()
    a = Sample(arm.recipients, arm.revenue, arm.squares)
    b = Sample(base.recipients, base.revenue, base.squares)
    interval = welch(a, b)
    p = welch_test(a.mean, a.variance, a.n, b.mean, b.variance, b.n)[2]
    return {"metric": METRIC_NAMES[metric], "variant": name, "baseline": baseline, "rate": a.mean,
            "baseline_rate": b.mean, "difference": a.mean - b.mean, "ci95": [interval.low, interval.high],
            "p_value": p, "verdict": f"p = {p:.3f}"}


def _verdict(e: Experiment, arms: Mapping[str, Arm], metric: Metric, winner: Mapping[str, Any] | None) -> str:
    """What a marketer reads: the winner and when, or what the test still waits for."""
    if winner is not None:
        return f"{winner.get('variant')} chosen on {winner.get('at')} ({METRIC_NAMES[metric]}; {winner.get('reason')})"
    rule = e.rule
    if rule is None:
        return "No winner rule: compare the variants below"
    fewest = min(arms.values(), key=lambda a: a.recipients).recipients if arms else 0
    if fewest < rule.min_per_variant:
        return f"Not enough recipients yet: each variant needs {rule.min_per_variant} (the smallest has {fewest})"
    best = verdict(rule, arms, e.candidates)
    if best is not None:
        return f"{best} beats every other variant at {rule.confidence:.0%} confidence (chosen at the next check)"
    return f"No variant beats every other at {rule.confidence:.0%} confidence yet"
