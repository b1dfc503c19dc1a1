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


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile by the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5); within 1e-3 for df >= 5 (3.179 for 3.182 at 3)."""
    x = NormalDist().inv_cdf(p)
    g1 = (x ** 3 + x) / 4
    g2 = (5 * x ** 5 + 16 * x ** 3 + 3 * x) / 96
    g3 = (3 * x ** 7 + 19 * x ** 5 + 17 * x ** 3 - 15 * x) / 384
    g4 = (79 * x ** 9 + 776 * x ** 7 + 1482 * x ** 5 - 1920 * x ** 3 - 945 * x) / 92160
    return x + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4


@dataclass(frozen=True)
class Sample:
    """A sample's size, sum and sum of squares: enough for its mean and variance."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1)) if self.n > 1 else 0.0


def welch(a: Sample, b: Sample) -> Interval:
    """95% interval of mean(a) - mean(b) without assuming equal variances (Welch-Satterthwaite degrees of freedom)."""
    va, vb = a.variance / a.n, b.variance / b.n
    d = a.mean - b.mean
    se2 = va + vb
    if se2 == 0:
        return Interval(d, d)
    denominator = (va * va / (a.n - 1) if a.n > 1 else 0.0) + (vb * vb / (b.n - 1) if b.n > 1 else 0.0)
    df = se2 * se2 / denominator if denominator else float(a.n + b.n - 2)
    half = t_quantile(0.975, max(df, 1.0)) * sqrt(se2)
    return Interval(d - half, d + half)
