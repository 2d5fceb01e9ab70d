"""Paired comparison of two attack-success rates measured on the same items.

Every configuration sees the same suite items, so two configurations' outcomes form matched
pairs. Counts follow Newcombe (1998b):

    e = success under both,  f = success under A only,
    g = success under B only, h = success under neither,  n = e + f + g + h,

so p_A = (e + f) / n, p_B = (e + g) / n and p_A - p_B = (f - g) / n: only the discordant
pairs f and g carry information about the difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
from scipy.special import bdtr

from harness.stats._intervals import wilson_interval

__all__ = [
    "PairedComparison",
    "holm_bonferroni",
    "mcnemar_exact",
    "paired_comparison",
    "paired_difference_ci",
]

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
# binary outcomes: a list of bools, or a numpy array of bools or 0/1
Outcomes = Sequence[bool] | np.ndarray[Any, np.dtype[Any]]


class PairedComparison(TypedDict):
    """A paired comparison of configuration A against configuration B (A minus B)."""

    n: int  # pairs (items, or attempts matched across the two configurations)
    p_a: float
    p_b: float
    difference: float  # p_a - p_b
    lo: float  # Newcombe (1998b) method 10 interval for the difference
    hi: float
    b: int  # discordant: success under A only
    c: int  # discordant: success under B only
    p_value: float  # exact McNemar test of p_a == p_b


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact (conditional) McNemar p-value from the discordant counts.

    Under H0 (p_A = p_B), and given the b + c discordant pairs, b ~ Binomial(b + c, 1/2)
    (McNemar 1947, Psychometrika 12:153-157; the exact form as in Fagerland, Lydersen & Laake
    2013, BMC Med Res Methodol 13:91, eq. 1: 2 * P(X <= min(b, c)), at most 1).
    Returns 1.0 when b + c == 0: concordant pairs alone say nothing against H0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    # bdtr(k, n, p) = P(X <= k): the binomial CDF, without importing all of scipy.stats
    return min(1.0, 2.0 * float(bdtr(min(b, c), b + c, 0.5)))


def paired_difference_ci(
    a: Outcomes, b: Outcomes, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(p_A - p_B, lo, hi) with Newcombe's method 10 interval for paired proportions.

    Newcombe RG, "Improved confidence intervals for the difference between binomial
    proportions based on paired data", Stat Med 1998;17:2635-50, method 10: the Wilson score
    intervals of the two margins combined with a continuity-corrected phi correlation.
    `a[i]` and `b[i]` are the outcomes of the same item under A and under B.
    (nan, nan, nan) when there are no pairs.
    """
    e, f, g, h = _paired_counts(a, b)
    return _newcombe_method10(e, f, g, h, confidence)


def paired_comparison(a: Outcomes, b: Outcomes, confidence: float = 0.95) -> PairedComparison:
    """Both rates, their difference with its Newcombe interval, and the exact McNemar test."""
    e, f, g, h = _paired_counts(a, b)
    n = e + f + g + h
    difference, lo, hi = _newcombe_method10(e, f, g, h, confidence)
    return PairedComparison(
        n=n,
        p_a=(e + f) / n if n else math.nan,
        p_b=(e + g) / n if n else math.nan,
        difference=difference,
        lo=lo,
        hi=hi,
        b=f,
        c=g,
        p_value=mcnemar_exact(f, g),
    )


def holm_bonferroni(p_values: Sequence[float] | FloatArray) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Holm S, "A simple sequentially rejective multiple test procedure", Scand J Stat
    1979;6:65-70. With the m p-values sorted, p_(1) <= ... <= p_(m), the adjusted value is
    max over j <= i of min(1, (m - j + 1) p_(j)) (Wright 1992, Biometrics 48:1005-1013):
    H_i is rejected at family-wise level alpha exactly when its adjusted p-value is <= alpha.
    NaN entries (comparisons that could not be made) stay NaN and are not counted in m.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    present = np.flatnonzero(~np.isnan(p))
    if ((p[present] < 0) | (p[present] > 1)).any():
        raise ValueError("p-values must be in [0, 1]")
    order = present[np.argsort(p[present], kind="stable")]
    m = order.size
    # the running maximum keeps the adjusted values in the order of the raw ones (monotone)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted: FloatArray = np.full(p.size, np.nan)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


def as_booleans(values: Outcomes, name: str) -> BoolArray:
    """Binary outcomes as a bool array; anything but True/False/0/1 is an error.

    Checked because `bool(nan)` is True: a missing label must not count as a success.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.dtype == np.bool_:
        return array
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only True/False (or 0/1)")
    return array.astype(bool)


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def _paired_counts(a: Outcomes, b: Outcomes) -> tuple[int, int, int, int]:
    """(e, f, g, h): both, A only, B only, neither."""
    x, y = as_booleans(a, "a"), as_booleans(b, "b")
    if x.size != y.size:
        raise ValueError(f"a and b must be paired: {x.size} != {y.size} outcomes")
    return (
        int(np.sum(x & y)),
        int(np.sum(x & ~y)),
        int(np.sum(~x & y)),
        int(np.sum(~x & ~y)),
    )


def _newcombe_method10(
    e: int, f: int, g: int, h: int, confidence: float
) -> tuple[float, float, float]:
    """Newcombe (1998b) method 10 from the four cell counts."""
    check_confidence(confidence)
    n = e + f + g + h
    if n == 0:
        return math.nan, math.nan, math.nan
    p_a, p_b = (e + f) / n, (e + g) / n
    l_a, u_a = wilson_interval(e + f, n, confidence)
    l_b, u_b = wilson_interval(e + g, n, confidence)
    phi = _corrected_phi(e, f, g, h)
    theta = p_a - p_b
    # the lower limit pairs A's lower and B's upper distances, the upper limit the other two
    delta = _combine(p_a - l_a, u_b - p_b, phi)
    epsilon = _combine(u_a - p_a, p_b - l_b, phi)
    return theta, theta - delta, theta + epsilon


def _corrected_phi(e: int, f: int, g: int, h: int) -> float:
    """Newcombe's phi-hat with the continuity-corrected numerator of method 10.

    phi = C / sqrt((e+f)(g+h)(e+g)(f+h)), where C = eh - fg - n/2 when eh - fg > n/2,
    0 when 0 <= eh - fg <= n/2, and eh - fg when it is negative; 0 when a margin is empty.
    """
    denominator = (e + f) * (g + h) * (e + g) * (f + h)
    if denominator == 0:
        return 0.0
    n = e + f + g + h
    cross = e * h - f * g
    numerator = cross - n / 2 if cross > n / 2 else min(cross, 0)
    return numerator / math.sqrt(denominator)


def _combine(first: float, second: float, phi: float) -> float:
    # max(0, .): rounding can take x^2 - 2 phi x y + y^2 a hair below zero when x == y
    return math.sqrt(max(0.0, first**2 - 2 * phi * first * second + second**2))
