"""Wilson score intervals against Newcombe (1998), Statistics in Medicine 17:857-872, Table I."""

from __future__ import annotations

import math

import pytest

from harness.stats import wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_newcombe_table_1(successes: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_all_successes_mirrors_none() -> None:
    low, high = wilson_interval(20, 20)
    assert high == pytest.approx(1.0)
    assert low == pytest.approx(1 - 0.1611, abs=5e-5)


def test_wider_at_higher_confidence() -> None:
    low95, high95 = wilson_interval(15, 148)
    low99, high99 = wilson_interval(15, 148, confidence=0.99)
    assert low99 < low95 < 15 / 148 < high95 < high99


def test_empty_sample_is_nan() -> None:
    low, high = wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)


def test_agrees_with_scipy_binomtest_everywhere() -> None:
    # the closed form replaced scipy.stats (a second of import); scipy stays the reference
    from scipy.stats import binomtest

    for n in (1, 2, 7, 50, 263, 1000, 12345):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            for confidence in (0.8, 0.95, 0.99):
                ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
                got = wilson_interval(k, n, confidence)
                assert got == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize(("k", "n", "confidence"), [(3, 2, 0.95), (-1, 5, 0.95), (1, 5, 1.0)])
def test_rejects_impossible_arguments(k: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        wilson_interval(k, n, confidence)
