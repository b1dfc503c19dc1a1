"""Confidence intervals and tests for rates, on the standard library's NormalDist (no scipy)."""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson's score interval: honest near 0 and 1, where the textbook p ± z·se is not."""
    if n == 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe(s1: int, n1: int, s2: int, n2: int, z: float = Z95) -> Interval:
    """Newcombe's hybrid score interval (his method 10) for p1 - p2, built from two Wilson intervals."""
    p1, p2 = s1 / n1, s2 / n2
    a, b = wilson(s1, n1, z), wilson(s2, n2, z)
    d = p1 - p2
    return Interval(d - sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
                    d + sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2))


def two_proportion_p_value(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z test (equivalent to Pearson's chi-square 2x2)."""
    pooled = (s1 + s2) / (n1 + n2)
    se = sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (s1 / n1 - s2 / n2) / se
    return 2 * (1 - NormalDist().cdf(abs(z)))
