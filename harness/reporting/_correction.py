"""Judge-error correction: Rogan–Gladen corrected ASR from a human-labelled subset."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.reporting._cells import success_codes
from harness.reporting._outcomes import KEYS
from harness.stats import corrected_rate_ci

__all__ = ["corrected_rates"]


def corrected_rates(
    frame: pd.DataFrame, labels: pd.DataFrame, reference: str, *, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per configuration × attack × grader (`labels` row-aligned with `frame`): raw ASR, the
    grader's sensitivity and specificity against `reference` on the attempts it labelled, and
    the corrected ASR with its interval.

    Blocked attempts are valid non-successes that no grader judged: the correction applies to
    the graded attempts, and the rates are then scaled to all the cell's valid attempts, so
    that `raw_rate` is the table's strict ASR."""
    codes = success_codes(labels)
    harmful = frame[frame["valid"] & frame["harmful"]]
    rows = []
    for keys, group in harmful.groupby(KEYS, sort=False):
        graded = group[group["status"] == "OK"]
        if graded.empty:
            continue  # every attempt blocked: nothing a grader could have got wrong
        cell = codes.loc[graded.index]
        truth = cell[reference]
        blocked = len(group) - len(graded)
        for grader in (c for c in codes.columns if c != reference):
            rows.append(_row(keys, grader, cell[grader], truth, blocked, n_boot, seed))
    return pd.DataFrame(rows)


def _row(
    keys: Any,
    grader: str,
    predicted: pd.Series[Any],
    truth: pd.Series[Any],
    blocked: int,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    decided = predicted.dropna().astype(bool)
    validation = pd.concat([predicted, truth], axis=1).dropna().astype(bool)
    row: dict[str, Any] = dict(zip(KEYS, keys, strict=True)) | {"grader": grader}
    if decided.empty or validation.empty:
        return row | {"n_all": len(decided), "n_val": len(validation), "n_blocked": blocked}
    result = corrected_rate_ci(
        decided.tolist(),
        validation.iloc[:, 0].tolist(),
        validation.iloc[:, 1].tolist(),
        n_boot=n_boot,
        seed=seed,
    )
    # the graded share of the valid attempts: blocked ones are known failures of the attack
    share = len(decided) / (len(decided) + blocked)
    scaled = {k: result[k] * share for k in ("rate", "lo", "hi", "raw_rate")}
    return row | dict(result) | scaled | {"n_blocked": blocked}
