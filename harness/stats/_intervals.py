"""Confidence intervals for proportions."""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["wilson_interval"]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction); (nan, nan) when n is 0.

    Wilson 1927 (JASA 22:209-212), as in Newcombe 1998a (Stat Med 17:857-872), method 3:
    (2np + z^2 ± z sqrt(z^2 + 4np(1-p))) / (2(n + z^2)). Written out rather than taken from
    scipy.stats, whose import (~1 s) would be most of a small report's time.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes} of {n}")
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    center = 2 * n * p + z * z
    spread = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    denominator = 2 * (n + z * z)
    return max(0.0, (center - spread) / denominator), min(1.0, (center + spread) / denominator)
