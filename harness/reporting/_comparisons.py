"""Like-for-like matrices and paired tests between configurations on the same items."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.reporting._cells import GRADER_FLAGS
from harness.reporting._outcomes import records
from harness.stats import (
    holm_bonferroni,
    mcnemar_exact,
    paired_clustered_difference,
    paired_comparison,
)

__all__ = ["DEPLOYMENT_FIELDS", "asr_matrix", "comparisons", "deployment_differences", "tool_gap"]

DEPLOYMENT_FIELDS = ("system_prompt", "safety_layer", "tools", "provider_side_layers")


def asr_matrix(
    cells: pd.DataFrame, attack: str, rate: str = "strict_asr", sep: str = " "
) -> pd.DataFrame:
    """Models as rows, deployments as columns, 'rate [lo, hi]' in each cell (`sep` between
    the rate and its interval)."""
    subset = cells[cells["attack"] == attack]
    text = {(r["model"], r["deployment"]): _cell_text(r, rate, sep) for r in records(subset)}
    models = list(dict.fromkeys(subset["model"]))
    deployments = list(dict.fromkeys(subset["deployment"]))
    data = [[text.get((m, d), "") for d in deployments] for m in models]
    return pd.DataFrame(data, index=pd.Index(models, name="model"), columns=deployments)


def _cell_text(row: dict[str, Any], rate: str, sep: str) -> str:
    flag = f" ({_grader_flags(row['flag'])})" if _grader_flags(row["flag"]) else ""
    value = row[rate]
    if math.isnan(value):
        return "–" + flag
    return f"{value:.1%}{sep}[{row[f'{rate}_lo']:.1%}, {row[f'{rate}_hi']:.1%}]" + flag


def _grader_flags(flag: str) -> str:
    """The flags that say a label-based rate cannot be trusted as shown (not small_n, which
    its interval already shows)."""
    return ",".join(f for f in flag.split(",") if f in GRADER_FLAGS)


def tool_gap(cells: pd.DataFrame, tool_deployments: set[str]) -> pd.DataFrame:
    """Per model and attack: the best text-only ASR beside the tool-access action ASR."""
    rows = []
    for (model, attack), group in cells.groupby(["model", "attack"], sort=False):
        text = group[~group["deployment"].isin(tool_deployments)]
        tools = group[group["deployment"].isin(tool_deployments)]
        if text.empty or tools.empty:
            continue
        for tool_row, text_row in itertools.product(records(tools), records(text)):
            rows.append(
                {
                    "model": model,
                    "attack": attack,
                    "text_deployment": text_row["deployment"],
                    "text_strict_asr": text_row["strict_asr"],
                    "tool_deployment": tool_row["deployment"],
                    "tool_strict_asr": tool_row["strict_asr"],
                    "tool_action_asr": tool_row["action_asr"],
                    "gap_action_minus_text": tool_row["action_asr"] - text_row["strict_asr"],
                    # the text-only rate is a grader's; the action rate is not
                    "flag": _grader_flags(text_row["flag"]),
                }
            )
    return pd.DataFrame(rows)


def deployment_differences(
    descriptors: Mapping[str, Mapping[str, Any]], a: str, b: str
) -> list[str]:
    """Which of the fields that make a deployment differ between two configurations."""
    first, second = descriptors.get(a, {}), descriptors.get(b, {})
    return [f for f in DEPLOYMENT_FIELDS if _canon(first.get(f)) != _canon(second.get(f))]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def comparisons(
    frame: pd.DataFrame,
    descriptors: Mapping[str, Mapping[str, Any]],
    *,
    declared: Sequence[Mapping[str, Any]] = (),
    n_boot: int = 2000,
    seed: int = 0,
    cells: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The like-for-like pairs (one model under two deployments; two models under one
    deployment) and the `declared` pairs ({a, b, label}), per attack, on the items both
    answered validly; Holm across every row returned, which is every row shown.

    A pair of different models under different deployments is compared only when declared:
    its gap mixes the models with their deployments, so nobody should get it unasked.
    With `cells` (the cell table), each comparison carries in `flag` the grader flags of its
    two cells: a difference is no more trustworthy than either rate."""
    flags = (
        {(r["configuration"], r["attack"]): _grader_flags(r["flag"]) for r in records(cells)}
        if cells is not None
        else {}
    )
    harmful = frame[frame["valid"] & frame["harmful"]]
    configs = records(harmful[["configuration", "model", "deployment"]].drop_duplicates())
    by_name = {str(c["configuration"]): c for c in configs}
    labels = {(str(d["a"]), str(d["b"])): str(d.get("label") or "") for d in declared}
    pairs = [
        (a, b)
        for a, b in itertools.combinations(configs, 2)
        if a["model"] == b["model"] or a["deployment"] == b["deployment"]
    ]
    shown = {(str(a["configuration"]), str(b["configuration"])) for a, b in pairs}
    for a_name, b_name in labels:
        fresh = not {(a_name, b_name), (b_name, a_name)} & shown
        if fresh and a_name in by_name and b_name in by_name:
            pairs.append((by_name[a_name], by_name[b_name]))
            shown.add((a_name, b_name))
    rows = []
    for attack, by_attack in harmful.groupby("attack", sort=False):
        pivot = _pairs_table(by_attack)
        for a, b in pairs:
            if a["configuration"] in pivot and b["configuration"] in pivot:
                row = _compare(pivot, a, b, str(attack), descriptors, n_boot, seed)
                key = (str(a["configuration"]), str(b["configuration"]))
                row["label"] = labels.get(key, labels.get((key[1], key[0]), ""))
                rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["p_holm"] = holm_bonferroni(table["p_value"].tolist())
        table["flag"] = [
            ",".join(
                dict.fromkeys(
                    f
                    for name in (r["a"], r["b"])
                    for f in flags.get((name, r["attack"]), "").split(",")
                    if f
                )
            )
            for r in records(table)
        ]
    return table


def _pairs_table(attempts: pd.DataFrame) -> pd.DataFrame:
    """(item, sample) × configuration → strict success, NaN where the pair has no attempt.

    A pivot by codes: an attempt is unique per configuration, item and sample, so each lands
    in its own cell (pandas' pivot_table would group and aggregate half a million rows)."""
    items, item_names = pd.factorize(attempts["item"])  # any labels; the run's are codes
    samples = attempts["sample_index"].to_numpy(dtype=np.int64)
    width = int(samples.max(initial=0)) + 1
    pair_codes, pairs = pd.factorize(items.astype(np.int64) * width + samples)  # first seen
    config_codes, configurations = pd.factorize(attempts["configuration"])
    grid = np.full((len(pairs), len(configurations)), np.nan)
    grid[pair_codes, config_codes] = attempts["strict"].to_numpy(dtype=float)
    index = pd.MultiIndex.from_arrays(
        [item_names.take(pairs // width), pairs % width], names=["item", "sample_index"]
    )
    return pd.DataFrame(grid, index=index, columns=[str(c) for c in configurations])


def _compare(
    pivot: pd.DataFrame,
    a: dict[str, Any],
    b: dict[str, Any],
    attack: str,
    descriptors: Mapping[str, Mapping[str, Any]],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    both = pivot[[a["configuration"], b["configuration"]]].dropna()
    first = both[a["configuration"]].astype(bool)
    second = both[b["configuration"]].astype(bool)
    kind = (
        "deployments"
        if a["model"] == b["model"]
        else "models"
        if a["deployment"] == b["deployment"]
        else "models+deployments"
    )
    differs = deployment_differences(descriptors, a["configuration"], b["configuration"])
    row: dict[str, Any] = {
        "kind": kind,
        "attack": attack,
        "a": a["configuration"],
        "b": b["configuration"],
        "like_for_like": kind == "deployments" or not differs,
        "differs": ",".join(differs) if kind != "deployments" else "",
    }
    if both.empty:
        return row | {
            "n": 0,
            "p_a": math.nan,
            "p_b": math.nan,
            "difference": math.nan,
            "lo": math.nan,
            "hi": math.nan,
            "p_value": math.nan,
            "test": "",
            "only_a": 0,
            "only_b": 0,
        }
    result = dict(paired_comparison(first.tolist(), second.tolist()))
    result["test"] = "mcnemar_exact"
    if both.index.get_level_values("sample_index").nunique() > 1:
        # several samples per item are not independent pairs: the interval combines the two
        # rates' Korn–Graubard intervals (MOVER), and the test is an exact sign test on the
        # items' success rates under a and b
        items = both.index.get_level_values("item")
        diff, low, high = paired_clustered_difference(
            first.to_numpy(), second.to_numpy(), items.to_numpy()
        )
        per_item = (first.astype(float) - second.astype(float)).groupby(items.to_numpy()).mean()
        result |= {
            "difference": diff,
            "lo": low,
            "hi": high,
            "test": "item_sign_test",
            "p_value": mcnemar_exact(int((per_item > 0).sum()), int((per_item < 0).sum())),
        }
    kept = {k: result[k] for k in ("n", "p_a", "p_b", "difference", "lo", "hi", "p_value", "test")}
    # McNemar's discordant counts: success under a only, under b only
    return row | kept | {"only_a": result["b"], "only_b": result["c"]}
