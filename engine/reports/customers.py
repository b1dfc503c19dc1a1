"""Customer analytics from order history: lifecycle stages, RFM segments, lifetime value, retention cohorts.

The orders are the report's orders (engine.reports.orders: `settings.purchase_events`, valued
by `properties.total`, each once), of known customers. Everything is relative to `now`, the
report's reference time, never the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from engine.reports.orders import Order

# Lifetime value is the value customers brought over the history observed, never projected
# beyond it; below this much history (first order to the reference time) it is not given.
MIN_HISTORY = timedelta(days=90)


@dataclass(frozen=True)
class Lifecycle:
    """Stages by recency. new: first purchase within `new`; active: last purchase within `active`;
    at_risk: last purchase within `at_risk`; lapsed: longer ago."""

    new: timedelta = timedelta(days=30)
    active: timedelta = timedelta(days=90)
    at_risk: timedelta = timedelta(days=180)

    def stage(self, first: datetime, last: datetime, now: datetime) -> str:
        if now - first <= self.new:
            return "new"
        if now - last <= self.active:
            return "active"
        if now - last <= self.at_risk:
            return "at_risk"
        return "lapsed"


# RFM segments, first match wins: (name, minimum or maximum scores) over R, F, M quintile scores 1-5.
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("champions", "R>=4 and F>=4"),
    ("loyal", "F>=4"),
    ("promising", "R>=4 and F<=2"),
    ("at_risk", "R<=2 and F>=3"),
    ("hibernating", "R<=2 and F<=2"),
    ("needs_attention", "everyone else"),
)


def rfm_segment(r: int, f: int) -> str:
    if r >= 4 and f >= 4:
        return "champions"
    if f >= 4:
        return "loyal"
    if r >= 4 and f <= 2:
        return "promising"
    if r <= 2 and f >= 3:
        return "at_risk"
    if r <= 2:
        return "hibernating"
    return "needs_attention"


def quintile_scores(values: Mapping[str, float], higher_is_better: bool = True) -> dict[str, int]:
    """Scores 1-5 by rank: 1 + 5 × (customers strictly worse) // n, so equal values score alike."""
    ordered = sorted(values.values(), reverse=not higher_is_better)
    n = len(ordered)
    worse_than: dict[float, int] = {}
    for position, value in enumerate(ordered):
        worse_than.setdefault(value, position)
    return {c: min(5, 1 + 5 * worse_than[v] // n) for c, v in values.items()}


def _months(start: datetime, end: datetime) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def lifetime_value(revenue: float, customers: int, n_orders: int, observed: timedelta) -> dict[str, Any]:
    """Historical value per customer over the span observed; "not enough history" below MIN_HISTORY."""
    days = observed.total_seconds() / 86400
    enough = observed >= MIN_HISTORY
    return {"observed_days": round(days, 1), "minimum_days": MIN_HISTORY.days,
            "average_order_value": round(revenue / n_orders, 2),
            "orders_per_customer": round(n_orders / customers, 3),
            "value_per_customer": round(revenue / customers, 2) if enough else None,
            "note": None if enough else f"not enough history: {days:.0f} days of orders observed, "
                                        f"{MIN_HISTORY.days} needed",
            "formula": "revenue of the customers' orders / customers, over the history observed (no projection)"}


def customer_analytics(purchases: Iterable[Order], now: datetime, lifecycle: Lifecycle = Lifecycle()) -> dict[str, Any]:
    """Lifecycle counts, RFM scores and segments, historical lifetime value, and monthly retention cohorts."""
    orders: dict[str, list[Order]] = {}
    for p in purchases:
        if p.at <= now and not p.customer.startswith("anon:"):
            orders.setdefault(p.customer, []).append(p)
    if not orders:
        return {"customers": 0, "note": "no orders: send order events (--events, or the database) to see these"}
    first = {c: min(p.at for p in ps) for c, ps in orders.items()}
    last = {c: max(p.at for p in ps) for c, ps in orders.items()}
    spend = {c: sum(p.value for p in ps) for c, ps in orders.items()}
    count = {c: float(len(ps)) for c, ps in orders.items()}

    stages = {name: 0 for name in ("new", "active", "at_risk", "lapsed")}
    for c in orders:
        stages[lifecycle.stage(first[c], last[c], now)] += 1

    recency = {c: (now - last[c]).total_seconds() for c in orders}
    r_score = quintile_scores(recency, higher_is_better=False)
    f_score, m_score = quintile_scores(count), quintile_scores(spend)
    segments: dict[str, dict[str, Any]] = {name: {"customers": 0, "revenue": 0.0} for name, _ in SEGMENTS}
    for c in orders:
        seg = segments[rfm_segment(r_score[c], f_score[c])]
        seg["customers"] += 1
        seg["revenue"] = round(seg["revenue"] + spend[c], 2)

    customers, n_orders, revenue = len(orders), sum(len(ps) for ps in orders.values()), sum(spend.values())
    clv = lifetime_value(revenue, customers, n_orders, now - min(first.values()))

    cohorts: dict[str, list[set[str]]] = {}
    for c, ps in sorted(orders.items()):
        start = first[c]
        key = start.strftime("%Y-%m")
        row = cohorts.setdefault(key, [set() for _ in range(_months(start, now) + 1)])
        for p in ps:
            row[_months(start, p.at)].add(c)
    cohort_rows = [{"cohort": key, "customers": len(row[0]), "active": [len(s) for s in row],
                    "retention": [len(s) / len(row[0]) for s in row]} for key, row in sorted(cohorts.items())]

    return {
        "customers": customers, "orders": n_orders, "revenue": round(revenue, 2), "as_of": now.isoformat(),
        "lifecycle": stages,
        "lifecycle_thresholds_days": {"new": lifecycle.new.days, "active": lifecycle.active.days,
                                      "at_risk": lifecycle.at_risk.days},
        "rfm": {"segments": segments, "rules": dict(SEGMENTS),
                "scores": {c: f"{r_score[c]}{f_score[c]}{m_score[c]}" for c in sorted(orders)}
                if customers <= 1000 else None},
        "clv": clv,
        "cohorts": cohort_rows,
    }
