"""Split tests read as experiments: each variant against a baseline, with a 95% interval and a p-value.

Each split is its own experiment, keyed by journey and split name. The unit is the customer
(assigned, converted, clicked, spending), not the message: customers are the independent
observations. An arm's revenue is what its customers ordered after entering the journey
(every order, attributed or not: a holdout needs no attribution). The baseline is the holdout when there is one (a variant
without steps, so its difference is the journey's uplift), else the first variant.
A comparison is called only when each arm has at least MIN_CUSTOMERS customers and at
least MIN_EVENTS successes and MIN_EVENTS failures (the usual condition for the normal
approximation behind the z test); otherwise the verdict says the sample is too small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from engine.reports.catalog import SplitKey
from engine.reports.metrics import Arm
from engine.reports.proportions import Sample, newcombe, two_proportion_p_value, welch, wilson

MIN_CUSTOMERS = 30
MIN_EVENTS = 5
ALPHA = 0.05
TOO_SMALL = "Sample too small to call a winner"


@dataclass(frozen=True)
class Comparison:
    metric: str
    variant: str
    baseline: str
    rate: float
    baseline_rate: float
    difference: float
    low: float
    high: float
    p_value: float
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "variant": self.variant, "baseline": self.baseline, "rate": self.rate,
                "baseline_rate": self.baseline_rate, "difference": self.difference,
                "ci95": [self.low, self.high], "p_value": self.p_value, "verdict": self.verdict}


def _enough(successes: int, n: int) -> bool:
    return n >= MIN_CUSTOMERS and successes >= MIN_EVENTS and n - successes >= MIN_EVENTS


def compare(metric: str, variant: str, s1: int, n1: int, baseline: str, s0: int, n0: int) -> Comparison:
    """Variant (s1 of n1) against baseline (s0 of n0): difference p1 - p0, Newcombe interval, z-test p."""
    p1, p0 = s1 / n1, s0 / n0
    interval = newcombe(s1, n1, s0, n0)
    p_value = two_proportion_p_value(s1, n1, s0, n0)
    if not (_enough(s1, n1) and _enough(s0, n0)):
        verdict = TOO_SMALL
    elif p_value < ALPHA:
        verdict = f"{variant} {'beats' if p1 > p0 else 'trails'} {baseline} ({metric}, p = {p_value:.3f})"
    else:
        verdict = f"No significant difference in {metric} yet (p = {p_value:.3f})"
    return Comparison(metric, variant, baseline, p1, p0, p1 - p0, interval.low, interval.high, p_value, verdict)


def _spend(arm: Arm) -> Sample:
    """Order revenue per assigned customer after entering the journey, a customer without orders counting 0."""
    values = arm.spend.values()
    return Sample(len(arm.assigned), sum(values), sum(v * v for v in values))


def incremental(arm: Arm, base: Arm, conversion: Comparison) -> dict[str, Any]:
    """Treated minus holdout, per recipient, scaled to the treated arm's customers, with 95% intervals."""
    n = len(arm.assigned)
    treated, holdout = _spend(arm), _spend(base)
    per = welch(treated, holdout)
    return {
        "relative": conversion.difference / conversion.baseline_rate if conversion.baseline_rate else None,
        "incremental_conversions": conversion.difference * n,
        "incremental_conversions_ci95": [conversion.low * n, conversion.high * n],
        "revenue_per_customer": treated.mean - holdout.mean,
        "revenue_per_customer_ci95": [per.low, per.high],
        "incremental_revenue": round((treated.mean - holdout.mean) * n, 2),
        "incremental_revenue_ci95": [round(per.low * n, 2), round(per.high * n, 2)],
    }


def experiment(key: SplitKey, arms: Mapping[str, Arm], order: Sequence[str] = (),
               holdouts: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """One split of one journey; None when it has fewer than two variants with customers."""
    journey, split = key
    names = [n for n in order if n in arms] + sorted(set(arms) - set(order))
    names = [n for n in names if arms[n].assigned]
    if len(names) < 2:
        return None
    is_holdout = {n: n in holdouts or arms[n].messages == 0 for n in names}
    baseline = next((n for n in names if is_holdout[n]), names[0])
    base = arms[baseline]
    n0 = len(base.assigned)
    variants = []
    for name in names:
        arm = arms[name]
        n = len(arm.assigned)
        ci = wilson(len(arm.converted), n)
        spend = _spend(arm)
        variants.append({"variant": name, "holdout": is_holdout[name], "customers": n,
                         "converted": len(arm.converted), "conversion_rate": len(arm.converted) / n,
                         "conversion_ci95": [ci.low, ci.high], "clicked": len(arm.clicked),
                         "click_rate": len(arm.clicked) / n, "goal_value": round(arm.goal_value, 2),
                         "revenue": round(spend.total, 2), "revenue_per_customer": spend.mean})
    comparisons: list[dict[str, Any]] = []
    for name in names:
        if name == baseline:
            continue
        arm = arms[name]
        n1 = len(arm.assigned)
        conv = compare("conversion rate", name, len(arm.converted), n1, baseline, len(base.converted), n0)
        item = conv.as_dict()
        if is_holdout[baseline]:
            item["uplift"] = incremental(arm, base, conv)
        comparisons.append(item)
        if not is_holdout[baseline] and not is_holdout[name]:
            comparisons.append(compare("click rate", name, len(arm.clicked), n1, baseline,
                                       len(base.clicked), n0).as_dict())
    return {"key": f"{journey}/{split}" if split else journey, "journey": journey, "split": split or None,
            "baseline": baseline, "variants": variants, "comparisons": comparisons}
