"""Coverage of the rate intervals with several samples per item (issue 11, deliverable 5).

Simulates items whose success probabilities vary with intra-item correlation rho (a
beta-binomial: p_i ~ Beta(p (1 - rho) / rho, (1 - p) (1 - rho) / rho), then k samples per item
~ Bernoulli(p_i); rho = 0 is plain binomial), computes the report's interval for each replicate
and counts how often it holds the true rate p. Prints one row per design and the minimum
coverage and width; exits 1 if any coverage is below --floor or any interval has zero width.

    python bench/bench_intervals.py [--reps 2000] [--floor 0.93]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from harness.stats._clustered import interval_from_items, paired_clustered_difference

RATES = (0.0, 0.01, 0.1, 0.5, 0.9, 1.0)
CORRELATIONS = (0.0, 0.3, 0.8)
DESIGNS = ((20, 3), (50, 5), (100, 10), (200, 2))  # items, samples per item


def item_probabilities(rng: np.random.Generator, p: float, rho: float, items: int) -> np.ndarray:
    if p in (0.0, 1.0) or rho == 0.0:
        return np.full(items, p)
    scale = (1.0 - rho) / rho
    return rng.beta(p * scale, (1.0 - p) * scale, size=items)


def coverage(
    p: float, rho: float, items: int, samples: int, reps: int, seed: int
) -> tuple[float, float, float]:
    """(coverage, smallest width, mean width) over `reps` simulated runs."""
    rng = np.random.default_rng(seed)
    counts = np.full(items, float(samples))
    hits, widths = 0, []
    for _ in range(reps):
        sums = rng.binomial(samples, item_probabilities(rng, p, rho, items)).astype(float)
        _, lo, hi = interval_from_items(sums, counts)
        hits += lo <= p <= hi
        widths.append(hi - lo)
    return hits / reps, float(min(widths)), float(np.mean(widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--floor", type=float, default=0.93)
    args = parser.parse_args()
    started = time.perf_counter()
    print("| items | samples | p | rho | coverage | min width | mean width |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    worst_cover, worst_width = 1.0, 1.0
    for d, (items, samples) in enumerate(DESIGNS):
        for i, p in enumerate(RATES):
            for j, rho in enumerate(CORRELATIONS):
                cover, narrowest, mean = coverage(
                    p, rho, items, samples, args.reps, d * 100 + i * 10 + j
                )
                worst_cover, worst_width = min(worst_cover, cover), min(worst_width, narrowest)
                print(
                    f"| {items} | {samples} | {p} | {rho} | {cover:.3f} | {narrowest:.4f} "
                    f"| {mean:.4f} |"
                )
    # paired differences never collapse, whatever the two rates
    clusters = np.repeat(np.arange(50), 5)
    ones, zeros = np.ones(250), np.zeros(250)
    extremes = [
        paired_clustered_difference(a, b, clusters)
        for a, b in ((ones, zeros), (zeros, ones), (zeros, zeros), (ones, ones))
    ]
    print("\npaired extremes (A=1,B=0), (A=0,B=1), (0,0), (1,1), 50 items x 5 samples:")
    for difference, lo, hi in extremes:
        print(f"  {difference:+.1f} [{lo:+.4f}, {hi:+.4f}]")
    print(
        f"\nminimum coverage {worst_cover:.3f} (floor {args.floor}), minimum width "
        f"{worst_width:.4f}; {time.perf_counter() - started:.1f} s"
    )
    collapsed = any(hi - lo <= 0 for _, lo, hi in extremes)
    return 0 if worst_cover >= args.floor and worst_width > 0 and not collapsed else 1


if __name__ == "__main__":
    sys.exit(main())
