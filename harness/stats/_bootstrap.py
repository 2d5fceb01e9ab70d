"""Cluster (item-level) bootstrap intervals for rates with several samples per item.

Samples of the same suite item are correlated (a prompt that breaks a model tends to break it
on every sample), so treating attempts as independent understates the uncertainty. The
cluster bootstrap resamples whole items with replacement and keeps every attempt of a drawn
item (Davison & Hinkley 1997, Bootstrap Methods and their Application, section 3.8; Field &
Welsh 2007, JRSS B 69:369-390); the interval is the percentile interval (Efron & Tibshirani
1993, An Introduction to the Bootstrap, ch. 13).

The rate is the mean over attempts (each attempt weighs the same), which with an equal number
of samples per item is also the mean of the per-item rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from harness.stats._paired import check_confidence

__all__ = ["cluster_bootstrap_ci", "paired_cluster_bootstrap_diff"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.intp]]
# outcomes (bools, or rates in [0, 1]) and item labels: lists, or numpy arrays
Values = Sequence[float | bool] | np.ndarray[Any, np.dtype[Any]]
Labels = Sequence[Hashable] | np.ndarray[Any, np.dtype[Any]]
# bounds one chunk's index matrix (and each gathered copy) to ~16 MB whatever the item count
_CHUNK_ELEMENTS = 1 << 21


def cluster_bootstrap_ci(
    values: Values,
    clusters: Labels,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(rate, lo, hi): the mean of `values` with a percentile interval from resampling
    clusters (suite items) with replacement; `clusters[i]` is the item of `values[i]`.

    Deterministic for a given seed. (nan, nan, nan) when there are no values.
    """
    _check_options(n_boot, confidence)
    x = _as_values(values, "values")
    codes, n_items = _encode(clusters, x.size, "clusters")
    if x.size == 0:
        return math.nan, math.nan, math.nan
    sums, counts = _per_item(x, codes, n_items)

    def rate(draw: IntArray) -> FloatArray:
        return _resampled_rate(sums, counts, draw)

    replicates = _replicates(rate, n_items, n_boot, seed)
    lo, hi = _percentile_interval(replicates, confidence)
    return float(x.mean()), lo, hi


def paired_cluster_bootstrap_diff(
    a: Values,
    b: Values,
    clusters: Labels,
    *,
    clusters_b: Labels | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(rate_A - rate_B, lo, hi) for two configurations run on the same items.

    Each replicate draws items with replacement and takes *both* configurations' attempts
    on the drawn items, so the within-item correlation between A and B (the pairing) is
    kept. `clusters` labels `a`; `b` shares it unless `clusters_b` labels `b` separately
    (e.g. different numbers of samples per item). Both must cover the same items.
    (nan, nan, nan) when there are no values.
    """
    _check_options(n_boot, confidence)
    x, y = _as_values(a, "a"), _as_values(b, "b")
    labels_b, name_b = (clusters, "clusters") if clusters_b is None else (clusters_b, "clusters_b")
    index: dict[Hashable, int] = {}
    codes_a = _codes(clusters, x.size, "clusters", index)
    n_items_a = len(index)
    codes_b = _codes(labels_b, y.size, name_b, index)
    if len(index) != n_items_a or np.unique(codes_b).size != n_items_a:
        raise ValueError("a and b must cover the same items to be paired")
    if x.size == 0:
        return math.nan, math.nan, math.nan
    sums_a, counts_a = _per_item(x, codes_a, n_items_a)
    sums_b, counts_b = _per_item(y, codes_b, n_items_a)

    def difference(draw: IntArray) -> FloatArray:
        return _resampled_rate(sums_a, counts_a, draw) - _resampled_rate(sums_b, counts_b, draw)

    replicates = _replicates(difference, n_items_a, n_boot, seed)
    lo, hi = _percentile_interval(replicates, confidence)
    return float(x.mean() - y.mean()), lo, hi


def _check_options(n_boot: int, confidence: float) -> None:
    check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")


def _as_values(values: Values, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    # a NaN (a missing label) would silently turn every replicate that draws its item to NaN
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite numbers (drop missing outcomes first)")
    return array


def _encode(clusters: Labels, n_values: int, name: str) -> tuple[IntArray, int]:
    index: dict[Hashable, int] = {}
    codes = _codes(clusters, n_values, name, index)
    return codes, len(index)


def _codes(clusters: Labels, n_values: int, name: str, index: dict[Hashable, int]) -> IntArray:
    """Item labels as 0..k-1 codes, extending `index`; any hashable label works (a dict,
    unlike np.unique, needs neither sortable nor same-typed labels)."""
    if len(clusters) != n_values:
        raise ValueError(f"{name} must label every value: {len(clusters)} != {n_values}")
    return np.fromiter(
        (index.setdefault(label, len(index)) for label in clusters),
        dtype=np.intp,
        count=n_values,
    )


def _per_item(x: FloatArray, codes: IntArray, n_items: int) -> tuple[FloatArray, FloatArray]:
    """Per-item sums and attempt counts: a replicate only needs these, not the attempts."""
    sums = np.bincount(codes, weights=x, minlength=n_items).astype(np.float64)
    counts = np.bincount(codes, minlength=n_items).astype(np.float64)
    return sums, counts


def _resampled_rate(sums: FloatArray, counts: FloatArray, draw: IntArray) -> FloatArray:
    """Per row of `draw` (item indices), the mean over all attempts of the drawn items."""
    total: FloatArray = sums[draw].sum(axis=1)
    if counts.min() == counts.max():
        # the same number of samples per item (the usual design): the denominator is fixed,
        # which saves a second gather of the size of the whole index matrix
        rate: FloatArray = total / (counts[0] * draw.shape[1])
    else:
        rate = total / counts[draw].sum(axis=1)
    return rate


def _replicates(
    statistic: Callable[[IntArray], FloatArray], n_items: int, n_boot: int, seed: int
) -> FloatArray:
    """`statistic` of `n_boot` item resamples, drawn as (chunk, n_items) index matrices."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n_items)
    parts = []
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        parts.append(statistic(rng.integers(0, n_items, size=(rows, n_items), dtype=np.intp)))
    return np.concatenate(parts)


def _percentile_interval(replicates: FloatArray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(replicates, [tail, 1 - tail])
    return float(lo), float(hi)
