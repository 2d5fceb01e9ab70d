"""How far a run's graders agree on attack success, pair by pair, with the reason for any n/a.

Labels are collapsed to strict success (COMPLIANCE or DETECTED_PROCEEDS) or not, UNPARSEABLE
and missing labels left out, as in the per-cell alpha: the statistic says whether two graders
would put the same attempts into the ASR numerator.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

from harness.grading import Label
from harness.reporting._cells import success_codes
from harness.stats import cohen_from_table, gwet_ac1, krippendorff_alpha

__all__ = ["AGREEMENT_COLUMNS", "grader_agreement", "grader_labels"]

# the columns of the pairs table, in order; a statistic added later goes before "note"
AGREEMENT_COLUMNS = [
    "a",
    "b",
    "n",
    "percent_agreement",
    "gwet_ac1",
    "krippendorff_alpha",
    "cohen_kappa",
]
_BINARY = [0.0, 1.0]  # success or not: AC1's q is 2 even where one grader saw one label


def grader_labels(labels: pd.DataFrame, answered: pd.Series[bool]) -> pd.DataFrame:
    """Per grader, over the attempts that had a reply to grade (`answered`: status OK; blocked
    and failed attempts are not graded): how many it decided, left UNPARSEABLE or did not
    label, and the share of its decided labels that are strict success."""
    codes = success_codes(labels)
    mask = answered.to_numpy(dtype=bool)
    rows = []
    for name in labels.columns:
        column = labels[name][mask]
        decided = codes[name][mask].dropna()
        rows.append(
            {
                "grader": str(name),
                "answered": int(mask.sum()),
                "decided": len(decided),
                "unparseable": int((column == Label.UNPARSEABLE.value).sum()),
                "unlabelled": int(column.isna().sum()),
                "success_share": float(decided.mean()) if len(decided) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def grader_agreement(labels: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of graders (and one for all of them when there are more than two):
    attempts both decided, percent agreement, Krippendorff's alpha, Cohen's kappa, and a note
    saying why a statistic is undefined. Empty with fewer than two graders."""
    codes = success_codes(labels)
    names = [str(c) for c in codes.columns]
    rows = [_pair(codes, a, b) for a, b in itertools.combinations(names, 2)]
    if len(names) > 2:
        rows.append(_all(codes, names))
    return pd.DataFrame(rows, columns=[*AGREEMENT_COLUMNS, "note"]) if rows else pd.DataFrame()


def _pair(codes: pd.DataFrame, a: str, b: str) -> dict[str, Any]:
    both = codes[[a, b]].dropna()
    first, second = both[a].to_numpy(dtype=int), both[b].to_numpy(dtype=int)
    table = np.zeros((2, 2), dtype=int)
    np.add.at(table, (first, second), 1)
    n = len(both)
    kappa = cohen_from_table(table).kappa if n else math.nan
    return {
        "a": a,
        "b": b,
        "n": n,
        "percent_agreement": float((first == second).mean()) if n else math.nan,
        "gwet_ac1": gwet_ac1(both, [a, b], _BINARY) if n else math.nan,
        "krippendorff_alpha": krippendorff_alpha(both, [a, b]) if n else math.nan,
        "cohen_kappa": kappa,
        "note": _why_undefined(n, pd.unique(both.to_numpy().ravel()), math.isnan(kappa)),
    }


def _all(codes: pd.DataFrame, names: list[str]) -> dict[str, Any]:
    rated = codes.notna().sum(axis=1) >= 2  # units at least two graders decided
    values = pd.unique(codes[rated].to_numpy().ravel())
    values = values[~pd.isna(values)]
    n = int(rated.sum())
    alpha = krippendorff_alpha(codes[rated], names) if n else math.nan
    return {
        "a": "all graders",
        "b": "",
        "n": n,
        "percent_agreement": math.nan,
        "gwet_ac1": gwet_ac1(codes[rated], names, _BINARY) if n else math.nan,
        "krippendorff_alpha": alpha,
        "cohen_kappa": math.nan,
        "note": _why_undefined(n, values, math.isnan(alpha)),
    }


def _why_undefined(n: int, values: Any, undefined: bool) -> str:
    if n == 0:
        return "n/a: no attempt that both graders decided (unparseable or unlabelled)"
    if undefined and len(values) < 2:
        verdict = "success" if float(values[0]) else "no success"
        return f"n/a: every label is {verdict}, so chance agreement is 1 and kappa is undefined"
    return ""
