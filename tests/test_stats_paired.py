"""Paired comparisons, Holm's adjustment, cluster bootstrap and grader-error correction.

Published values checked here, and where they come from:

* Newcombe RG, Stat Med 1998;17:2635-50 (paired data), Table III, method 10: the 35 limits
  below as transcribed from the publisher's PDF in JoshSandhu/proofpack
  (fixtures/newcombe1998_paired.json). The (20, 12, 2, 16) row is also pinned, as "Newcombe's
  method 10 result", in the ratesci package's tests (petelaud/ratesci,
  tests/testthat/test3.R), an independent transcription. The lower limit of (1, 97, 1, 1) is
  left out: here eh < fg, where methods 8 and 10 coincide by definition, yet the table prints
  0.8737 for method 8 and 0.8736 for method 10; the formula gives 0.873672 (= method 8).
* Fagerland, Lydersen & Laake 2014, Stat Med 33:2850-75 (Bentur data), via ratesci's tests,
  and Fagerland, Lydersen & Laake 2017, Statistical Analysis of Contingency Tables, ch. 8
  (Cavo data), via the contingencytables package's tests (ocbe-uio/contingencytables).
* Every table is also checked against a second, independent implementation of method 10
  written below from the printed formula (Wilson limits as roots of the quadratic, z from
  the standard library), so the published values are not the only check.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
import pytest

from harness.stats import (
    cluster_bootstrap_ci,
    corrected_rate_ci,
    estimate_sensitivity_specificity,
    holm_bonferroni,
    mcnemar_exact,
    paired_cluster_bootstrap_diff,
    paired_comparison,
    paired_difference_ci,
    rogan_gladen,
    wilson_interval,
)

# half a unit in the fourth printed decimal, plus float slack
PRINTED_4DP = 5e-5 + 1e-9
PRINTED_3DP = 5e-4 + 1e-9


def pairs(e: int, f: int, g: int, h: int) -> tuple[list[bool], list[bool]]:
    """Outcome vectors with e both, f A only, g B only, h neither (Newcombe's cells)."""
    a = [True] * e + [True] * f + [False] * g + [False] * h
    b = [True] * e + [False] * f + [True] * g + [False] * h
    return a, b


def method10_by_hand(e: int, f: int, g: int, h: int, confidence: float = 0.95) -> tuple[float, ...]:
    """Newcombe's method 10 written from the printed definition, independent of the module."""
    z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n = e + f + g + h

    def wilson(x: int) -> tuple[float, float]:
        # the roots in pi of (pi - p)^2 = z^2 pi (1 - pi) / n
        p = x / n
        qa, qb, qc = 1 + z * z / n, -(2 * p + z * z / n), p * p
        root = math.sqrt(qb * qb - 4 * qa * qc)
        return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)

    (l2, u2), (l3, u3) = wilson(e + f), wilson(e + g)
    p2, p3 = (e + f) / n, (e + g) / n
    denominator = (e + f) * (g + h) * (e + g) * (f + h)
    numerator: float = e * h - f * g
    if numerator > 0:  # method 10's continuity correction applies only when eh > fg
        numerator = max(numerator - n / 2, 0)
    phi = numerator / math.sqrt(denominator) if denominator else 0.0
    dl2, du2, dl3, du3 = p2 - l2, u2 - p2, p3 - l3, u3 - p3
    theta = (f - g) / n
    delta = math.sqrt(max(0.0, dl2**2 - 2 * phi * dl2 * du3 + du3**2))
    epsilon = math.sqrt(max(0.0, du2**2 - 2 * phi * du2 * dl3 + dl3**2))
    return theta, theta - delta, theta + epsilon


# ---------------------------------------------------------------------------------------------
# Newcombe (1998b) method 10

# (e, f, g, h, lower, upper); None where the printed limit is not compared (see the docstring)
NEWCOMBE_TABLE_III = [
    (36, 12, 2, 0, 0.0569, 0.3404),
    (20, 12, 2, 16, 0.0562, 0.3292),
    (18, 12, 2, 18, 0.0562, 0.3290),
    (36, 14, 0, 0, 0.1528, 0.4167),
    (35, 14, 0, 1, 0.1461, 0.4175),
    (18, 14, 0, 18, 0.1441, 0.3963),
    (2, 97, 1, 0, 0.8721, 0.9854),
    (1, 97, 1, 1, None, 0.9850),
    (0, 29, 1, 0, 0.6666, 0.9882),
    (2, 98, 0, 0, 0.9178, 0.9945),
    (1, 98, 0, 1, 0.9171, 0.9916),
    (0, 30, 0, 0, 0.8395, 1.0),
    (54, 0, 0, 0, -0.0664, 0.0664),
    (53, 0, 0, 1, -0.0729, 0.0729),
    (30, 0, 0, 24, -0.0358, 0.0358),
    (29, 0, 0, 25, -0.0354, 0.0354),
    (28, 0, 0, 26, -0.0352, 0.0352),
    (27, 0, 0, 27, -0.0351, 0.0351),
]


@pytest.mark.parametrize(("e", "f", "g", "h", "lower", "upper"), NEWCOMBE_TABLE_III)
def test_newcombe_1998_table_iii_method_10(
    e: int, f: int, g: int, h: int, lower: float | None, upper: float
) -> None:
    difference, lo, hi = paired_difference_ci(*pairs(e, f, g, h))
    assert difference == pytest.approx((f - g) / (e + f + g + h))
    if lower is not None:
        assert lo == pytest.approx(lower, abs=PRINTED_4DP)
    assert hi == pytest.approx(upper, abs=PRINTED_4DP)


def test_newcombe_excluded_limit_is_the_method_8_value() -> None:
    # eh - fg < 0: no continuity correction applies, so method 10 = method 8 (printed 0.8737)
    _, lo, _ = paired_difference_ci(*pairs(1, 97, 1, 1))
    assert lo == pytest.approx(0.8737, abs=PRINTED_4DP)


@pytest.mark.parametrize(
    ("cells", "expected", "tolerance"),
    [
        # Bentur et al. data, Fagerland et al. (2014); printed to three decimals
        ((1, 1, 7, 12), (-6 / 21, -0.507, -0.026), PRINTED_3DP),
        # Cavo et al. data, Fagerland et al. (2017), ch. 8
        ((59, 6, 16, 80), (-0.0621, -0.1186, -0.0046), PRINTED_4DP),
    ],
)
def test_newcombe_fagerland_examples(
    cells: tuple[int, int, int, int], expected: tuple[float, float, float], tolerance: float
) -> None:
    assert paired_difference_ci(*pairs(*cells)) == pytest.approx(expected, abs=tolerance)


def test_method_10_matches_an_independent_implementation() -> None:
    rng = np.random.default_rng(11)
    tables = [(int(e), int(f), int(g), int(h)) for e, f, g, h in rng.integers(0, 40, (120, 4))]
    tables += [(e, f, g, h) for e, f, g, h, _, _ in NEWCOMBE_TABLE_III]
    for e, f, g, h in tables:
        if e + f + g + h == 0:
            continue
        for confidence in (0.9, 0.95, 0.99):
            got = paired_difference_ci(*pairs(e, f, g, h), confidence=confidence)
            expected = method10_by_hand(e, f, g, h, confidence)
            assert got == pytest.approx(expected, abs=1e-9), (e, f, g, h)


def test_difference_orientation_and_width() -> None:
    a, b = pairs(20, 12, 2, 16)
    d, lo, hi = paired_difference_ci(a, b)
    assert paired_difference_ci(b, a) == pytest.approx((-d, -hi, -lo))
    _, lo99, hi99 = paired_difference_ci(a, b, confidence=0.99)
    assert lo99 < lo < d < hi < hi99


def test_paired_difference_edge_cases() -> None:
    assert all(math.isnan(v) for v in paired_difference_ci([], []))
    assert paired_difference_ci(np.array([1, 0, 1]), np.array([1, 1, 0])) == pytest.approx(
        paired_difference_ci([True, False, True], [True, True, False])
    )
    with pytest.raises(ValueError, match="paired"):
        paired_difference_ci([True], [True, False])
    with pytest.raises(ValueError, match="True/False"):
        paired_difference_ci([1.0, math.nan], [True, False])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="confidence"):
        paired_difference_ci([True], [False], confidence=95)


# ---------------------------------------------------------------------------------------------
# McNemar


def exact_two_sided(b: int, c: int) -> float:
    """Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, eq. 1."""
    n = b + c
    if n == 0 or b == c:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / float(2**n)
    return min(1.0, 2 * tail)


def test_mcnemar_bentur_example() -> None:
    # Bentur et al. data (Fagerland et al. 2013, Table 1): b = 1, c = 7, 2 * 9 / 256
    assert mcnemar_exact(1, 7) == pytest.approx(18 / 256, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(b, c) for b in range(0, 25, 3) for c in range(0, 30, 4)])
def test_mcnemar_matches_the_binomial_formula(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(exact_two_sided(b, c), rel=1e-9)
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_mcnemar_edge_cases() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_paired_comparison_report() -> None:
    a, b = pairs(20, 12, 2, 16)
    result = paired_comparison(a, b)
    difference, lo, hi = paired_difference_ci(a, b)
    assert result == {
        "n": 50,
        "p_a": 32 / 50,
        "p_b": 22 / 50,
        "difference": difference,
        "lo": lo,
        "hi": hi,
        "b": 12,
        "c": 2,
        "p_value": mcnemar_exact(12, 2),
    }
    assert result["p_value"] == pytest.approx(exact_two_sided(12, 2))
    empty = paired_comparison([], [])
    assert empty["n"] == 0 and math.isnan(empty["p_a"]) and empty["p_value"] == 1.0


# ---------------------------------------------------------------------------------------------
# Holm


def holm_brute_force(p_values: Sequence[float]) -> list[float]:
    """Adjusted p = the smallest alpha at which Holm's sequential procedure rejects H_i."""
    present = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(present)

    def rejected(alpha: float) -> set[int]:
        order = sorted(present, key=lambda i: p_values[i])
        out: set[int] = set()
        for step, i in enumerate(order):
            if p_values[i] * (m - step) > alpha:
                break
            out.add(i)
        return out

    candidates = sorted({p_values[i] * k for i in present for k in range(1, m + 1)} | {1.0})
    adjusted = [math.nan] * len(p_values)
    for i in present:
        adjusted[i] = min([a for a in candidates if i in rejected(a)] + [1.0])
    return adjusted


def test_holm_worked_example() -> None:
    # the four-hypothesis example of the Wikipedia article "Holm-Bonferroni method": at
    # alpha = 0.05 H4 (0.005 < 0.05/4) and H1 (0.01 < 0.05/3) are rejected, H3 and H2 not
    p = [0.01, 0.04, 0.03, 0.005]
    adjusted = holm_bonferroni(p)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [a <= 0.05 for a in adjusted] == [True, False, False, True]


def test_holm_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        m = int(rng.integers(1, 9))
        p = [float(v) for v in np.round(rng.uniform(0, 0.4, m), 2)]  # rounding makes ties
        p = [math.nan if rng.random() < 0.15 else v for v in p]
        got, expected = holm_bonferroni(p), holm_brute_force(p)
        assert got == pytest.approx(expected, nan_ok=True), p


def test_holm_nan_and_bounds() -> None:
    adjusted = holm_bonferroni([0.02, math.nan, 0.6, 0.001])
    assert math.isnan(adjusted[1])
    # the family is the three non-NaN p-values
    assert adjusted[3] == pytest.approx(0.003)
    assert adjusted[0] == pytest.approx(0.04)
    assert adjusted[2] == pytest.approx(0.6)
    assert holm_bonferroni([0.5, 0.6]) == [1.0, 1.0]
    assert holm_bonferroni([]) == []
    with pytest.raises(ValueError):
        holm_bonferroni([1.2])


# ---------------------------------------------------------------------------------------------
# cluster bootstrap


def test_one_value_per_cluster_is_close_to_wilson() -> None:
    rng = np.random.default_rng(3)
    values = rng.random(3000) < 0.3
    rate, lo, hi = cluster_bootstrap_ci(values, list(range(3000)), n_boot=4000)
    w_lo, w_hi = wilson_interval(int(values.sum()), values.size)
    assert rate == pytest.approx(values.mean())
    assert (lo, hi) == pytest.approx((w_lo, w_hi), abs=0.004)


def test_cluster_bootstrap_is_deterministic() -> None:
    rng = np.random.default_rng(4)
    values = (rng.random(500) < 0.4).tolist()
    clusters = [f"item-{i % 50}" for i in range(500)]
    first = cluster_bootstrap_ci(values, clusters, seed=9)
    assert cluster_bootstrap_ci(values, clusters, seed=9) == first
    assert cluster_bootstrap_ci(values, clusters, seed=10) != first


def correlated_samples(
    rng: np.random.Generator, n_items: int, n_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Several samples per item, each item with its own success probability."""
    item_rates = rng.beta(0.5, 1.0, n_items)  # intra-item correlation 1 / (0.5 + 1 + 1) = 0.4
    clusters = np.repeat(np.arange(n_items), n_samples)
    return rng.random(clusters.size) < item_rates[clusters], clusters


def test_cluster_interval_is_wider_for_correlated_samples() -> None:
    values, clusters = correlated_samples(np.random.default_rng(6), 200, 10)
    _, lo, hi = cluster_bootstrap_ci(values, clusters)
    _, iid_lo, iid_hi = cluster_bootstrap_ci(values, np.arange(values.size))
    # design effect 1 + (10 - 1) * 0.4 = 4.6: the width should grow by about sqrt(4.6) = 2.1
    assert (hi - lo) > 1.5 * (iid_hi - iid_lo)


def test_cluster_bootstrap_large_input_and_any_hashable_labels() -> None:
    rng = np.random.default_rng(8)
    values = rng.random(100_000) < 0.2
    labels = [("suite", i % 5000) if i % 2 else f"x{i % 5000}" for i in range(100_000)]
    rate, lo, hi = cluster_bootstrap_ci(values, labels)
    assert lo < rate < hi and hi - lo < 0.02


def test_cluster_bootstrap_unequal_cluster_sizes() -> None:
    values = [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    clusters = ["a", "a", "a", "b", "c", "c"]
    rate, lo, hi = cluster_bootstrap_ci(values, clusters, n_boot=500)
    assert rate == pytest.approx(4 / 6)
    assert 0 <= lo <= rate <= hi <= 1


def test_cluster_bootstrap_input_errors() -> None:
    assert all(math.isnan(v) for v in cluster_bootstrap_ci([], []))
    with pytest.raises(ValueError, match="label every value"):
        cluster_bootstrap_ci([1.0, 0.0], ["a"])
    with pytest.raises(ValueError, match="finite"):
        cluster_bootstrap_ci([1.0, math.nan], ["a", "b"])
    with pytest.raises(ValueError, match="n_boot"):
        cluster_bootstrap_ci([1.0], ["a"], n_boot=0)


def test_paired_bootstrap_with_one_sample_is_close_to_newcombe() -> None:
    rng = np.random.default_rng(12)
    shared = rng.random(4000)
    a = shared < 0.35
    b = np.where(rng.random(4000) < 0.7, a, rng.random(4000) < 0.3)  # B mostly agrees with A
    difference, lo, hi = paired_cluster_bootstrap_diff(a, b, np.arange(4000), n_boot=4000)
    assert (difference, lo, hi) == pytest.approx(paired_difference_ci(a, b), abs=0.004)


def test_paired_bootstrap_keeps_the_pairing() -> None:
    rng = np.random.default_rng(13)
    n_items, n_samples = 300, 5
    item_rates = rng.beta(0.5, 1.0, n_items)
    clusters = np.repeat(np.arange(n_items), n_samples)
    a = rng.random(clusters.size) < item_rates[clusters]
    b = rng.random(clusters.size) < np.clip(item_rates[clusters] - 0.05, 0, 1)
    _, lo, hi = paired_cluster_bootstrap_diff(a, b, clusters)
    _, a_lo, a_hi = cluster_bootstrap_ci(a, clusters)
    _, b_lo, b_hi = cluster_bootstrap_ci(b, clusters)
    # A and B share each item's difficulty: the paired interval is much narrower than the one
    # that would treat the two rates as independent
    assert (hi - lo) < 0.7 * math.hypot(a_hi - a_lo, b_hi - b_lo)
    assert paired_cluster_bootstrap_diff(a, a, clusters) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_with_separate_labels() -> None:
    a = [1, 0, 1, 1]  # items x, y: two samples each
    b = [0, 0, 1, 1, 1, 0]  # items x, y: three samples each
    clusters_a = ["x", "x", "y", "y"]
    clusters_b = ["x", "x", "x", "y", "y", "y"]
    d, lo, hi = paired_cluster_bootstrap_diff(a, b, clusters_a, clusters_b=clusters_b, seed=1)
    assert d == pytest.approx(3 / 4 - 3 / 6)
    assert lo <= d <= hi
    with pytest.raises(ValueError, match="same items"):
        paired_cluster_bootstrap_diff(a, b, clusters_a, clusters_b=["x"] * 5 + ["z"])
    with pytest.raises(ValueError, match="same items"):
        paired_cluster_bootstrap_diff(a, b[:3], clusters_a, clusters_b=["x"] * 3)


# ---------------------------------------------------------------------------------------------
# grader-error correction


def test_rogan_gladen_worked_value() -> None:
    assert rogan_gladen(0.30, 0.9, 0.95) == pytest.approx(0.25 / 0.85)
    assert rogan_gladen(0.30, 0.9, 0.95) == pytest.approx(0.294117647, abs=1e-9)
    assert rogan_gladen(0.30, 1.0, 1.0) == pytest.approx(0.30)  # a perfect grader


def test_rogan_gladen_clips_and_is_nan_when_uninformative() -> None:
    assert rogan_gladen(0.02, 0.9, 0.95) == 0.0  # (0.02 - 0.05) / 0.85 < 0
    assert rogan_gladen(0.97, 0.9, 0.95) == 1.0  # (0.97 - 0.05) / 0.85 > 1
    assert math.isnan(rogan_gladen(0.3, 0.5, 0.5))  # Se + Sp = 1: verdict independent of truth
    assert math.isnan(rogan_gladen(0.3, 0.4, 0.5))  # worse than chance
    assert math.isnan(rogan_gladen(math.nan, 0.9, 0.9))
    with pytest.raises(ValueError):
        rogan_gladen(1.3, 0.9, 0.9)


def test_estimate_sensitivity_specificity() -> None:
    pred = [True, True, False, True, False, False, False]
    truth = [True, True, True, False, False, False, False]
    assert estimate_sensitivity_specificity(pred, truth) == pytest.approx((2 / 3, 3 / 4, 3, 4))
    sens, spec, n_pos, n_neg = estimate_sensitivity_specificity([False], [False])
    assert math.isnan(sens) and spec == 1.0 and (n_pos, n_neg) == (0, 1)


def simulate_grading(
    rng: np.random.Generator, n: int, prevalence: float, sens: float, spec: float
) -> tuple[np.ndarray, np.ndarray]:
    truth = rng.random(n) < prevalence
    u = rng.random(n)
    return truth, np.where(truth, u < sens, u > spec)


def test_corrected_rate_report() -> None:
    rng = np.random.default_rng(21)
    truth, pred = simulate_grading(rng, 2000, 0.3, 0.85, 0.92)
    val = rng.choice(2000, 300, replace=False)
    result = corrected_rate_ci(pred, pred[val], truth[val], seed=2)
    sens, spec, n_pos, n_neg = estimate_sensitivity_specificity(pred[val], truth[val])
    assert result["raw_rate"] == pytest.approx(pred.mean())
    assert result["rate"] == pytest.approx(rogan_gladen(pred.mean(), sens, spec))
    assert (result["n_all"], result["n_val"], result["n_pos"], result["n_neg"]) == (
        2000,
        300,
        n_pos,
        n_neg,
    )
    assert (result["sensitivity"], result["specificity"]) == (sens, spec)
    assert result["lo"] < result["rate"] < result["hi"]
    assert (result["n_boot"], result["n_undefined"]) == (2000, 0)
    assert corrected_rate_ci(pred, pred[val], truth[val], seed=2) == result


def test_undefined_replicates_are_counted() -> None:
    # Se = 0.7, Sp = 0.6 from 10 + 10 labels: Se + Sp <= 1 in a fair share of replicates
    truth_val = [True] * 10 + [False] * 10
    pred_val = [True] * 7 + [False] * 3 + [False] * 6 + [True] * 4
    pred_all = [True] * 55 + [False] * 45
    result = corrected_rate_ci(pred_all, pred_val, truth_val, n_boot=1000)
    assert 0 < result["n_undefined"] < 1000
    assert result["lo"] <= result["rate"] <= result["hi"]
    # an uninformative point estimate gives no rate and no interval
    flat = corrected_rate_ci(pred_all, [True, False], [True, False][::-1], n_boot=100)
    assert math.isnan(flat["rate"]) and math.isnan(flat["lo"]) and math.isnan(flat["hi"])
    # Se = Sp = 0 from one label each: most Jeffreys draws of Se + Sp stay <= 1
    assert 50 < flat["n_undefined"] <= 100


@pytest.mark.parametrize("validation_is_subset", [True, False])
def test_corrected_interval_covers_the_true_rate(validation_is_subset: bool) -> None:
    rng = np.random.default_rng(31)
    prevalence, sens, spec = 0.3, 0.85, 0.92
    covered = 0
    for sim in range(200):
        truth, pred = simulate_grading(rng, 1000, prevalence, sens, spec)
        if validation_is_subset:
            val = rng.choice(1000, 200, replace=False)
            truth_val, pred_val = truth[val], pred[val]
        else:
            truth_val, pred_val = simulate_grading(rng, 200, prevalence, sens, spec)
        result = corrected_rate_ci(pred, pred_val, truth_val, n_boot=1000, seed=sim)
        covered += result["lo"] <= prevalence <= result["hi"]
    assert 0.85 <= covered / 200 <= 0.99
