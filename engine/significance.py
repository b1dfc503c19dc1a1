"""Two-sided tests a winner is called by (SPEC §11): two proportions (z), two means (Welch's t).

The standard library has the normal distribution (statistics.NormalDist); Student's t is
computed here through the regularized incomplete beta function (Numerical Recipes §6.4,
Lentz's continued fraction), so no scipy is needed for one function.
"""

from __future__ import annotations

from math import exp, lgamma, log, sqrt
from statistics import NormalDist

_NORMAL = NormalDist()
_TINY = 1e-300
_EPSILON = 3e-16


def two_proportions(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """(z, two-sided p) of the pooled two-proportion z test: s1 of n1 against s2 of n2."""
    pooled = (s1 + s2) / (n1 + n2)
    se = sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0  # both arms all-or-nothing alike: nothing tells them apart
    z = (s1 / n1 - s2 / n2) / se
    return z, 2 * _NORMAL.cdf(-abs(z))


def welch(mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int) -> tuple[float, float, float]:
    """(t, degrees of freedom, two-sided p) of Welch's t test of two means, sample variances given."""
    a, b = var1 / n1, var2 / n2
    se2 = a + b
    difference = mean1 - mean2
    if se2 == 0:  # no spread in either arm: any difference is certain, none is none
        return (0.0, float(n1 + n2 - 2), 1.0) if difference == 0 else (float("inf"), float(n1 + n2 - 2), 0.0)
    t = difference / sqrt(se2)
    denominator = (a * a / (n1 - 1) if n1 > 1 else 0.0) + (b * b / (n2 - 1) if n2 > 1 else 0.0)
    df = se2 * se2 / denominator if denominator else float(n1 + n2 - 2)
    return t, df, t_two_sided(t, max(df, 1.0))


def t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom: I_x(df/2, 1/2) at x = df / (df + t²)."""
    return incomplete_beta(df / 2, 0.5, df / (df + t * t))


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x))
    if x < (a + 1) / (a + b + 2):  # the continued fraction converges fast on this side
        return front * _fraction(a, b, x) / a
    return 1 - front * _fraction(b, a, 1 - x) / b


def _fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated by the modified Lentz method."""
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > _TINY else _TINY)
            c = 1 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            result *= c * d
        if abs(c * d - 1) < _EPSILON:
            break
    return result
