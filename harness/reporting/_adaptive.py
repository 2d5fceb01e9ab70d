"""Adaptive attacks in the report: success by the attack's own judge, and what it cost.

One row per configuration × adaptive attack. `judge_asr` counts an attempt as a jailbreak when
the attack's judge gave its final reply the top rating (10), over the valid attempts (ERROR
and NO_TOOL_SUPPORT excluded, as everywhere); the graders' rates of the same attempts are in
the main table. Queries to success are target queries (the papers' measure) of the successful
attempts: median and the spread. Cost sums target, attacker and judge tokens at the config's
prices, errors included (they were spent), per judge-rated success.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from harness.reporting._cells import price_cost
from harness.store import RunStore

__all__ = ["ADAPTIVE_COLUMNS", "adaptive_table"]

_READ = [
    "configuration",
    "model",
    "attack",
    "status",
    "attack_trace",
    "prompt_tokens",
    "completion_tokens",
]
ADAPTIVE_COLUMNS = [
    "configuration",
    "attack",
    "method",
    "n",
    "valid",
    "errors",
    "judge_successes",
    "judge_asr",
    "queries_to_success_median",
    "queries_to_success_min",
    "queries_to_success_p25",
    "queries_to_success_p75",
    "queries_to_success_max",
    "target_queries",
    "attacker_queries",
    "judge_queries",
    "unparseable_streams",
    "capped",
    "cost",
    "cost_per_success",
]
INVALID = frozenset({"ERROR", "NO_TOOL_SUPPORT"})


def adaptive_table(
    store: RunStore, prices: Mapping[str, Mapping[str, float]] | None = None
) -> pd.DataFrame:
    """Empty (with its columns) when the run has no adaptive-attack attempt."""
    frame = store.attempts_frame(_READ)
    frame = frame[frame["attack_trace"].notna()]
    # in the main table's order (configuration, then attack): not the order attempts were
    # stored, which differs between two runs of one experiment (sharded, or finishing sooner)
    rows = [
        _row(keys, group, prices or {})
        for keys, group in frame.groupby(["configuration", "attack"], sort=True)
    ]
    return pd.DataFrame(rows, columns=ADAPTIVE_COLUMNS)


def _row(
    keys: Any, group: pd.DataFrame, prices: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    traces = [json.loads(text) for text in group["attack_trace"]]
    valid = ~group["status"].isin(INVALID)
    successes = [t for t, ok in zip(traces, valid, strict=True) if ok and t.get("success") is True]
    to_success = pd.Series([t["queries_to_success"] for t in successes], dtype=float)
    queries = [t.get("queries", {}) for t in traces]
    cost = _cost(group, traces, prices)
    n_valid = int(valid.sum())
    return {
        "configuration": keys[0],
        "attack": keys[1],
        "method": traces[0].get("method"),
        "n": len(group),
        "valid": n_valid,
        "errors": len(group) - n_valid,
        "judge_successes": len(successes),
        "judge_asr": len(successes) / n_valid if n_valid else math.nan,
        "queries_to_success_median": to_success.median() if len(to_success) else math.nan,
        "queries_to_success_min": to_success.min() if len(to_success) else math.nan,
        "queries_to_success_p25": to_success.quantile(0.25) if len(to_success) else math.nan,
        "queries_to_success_p75": to_success.quantile(0.75) if len(to_success) else math.nan,
        "queries_to_success_max": to_success.max() if len(to_success) else math.nan,
        "target_queries": sum(q.get("target", 0) for q in queries),
        "attacker_queries": sum(q.get("attacker", 0) for q in queries),
        "judge_queries": sum(q.get("judge", 0) for q in queries),
        "unparseable_streams": sum(int(t.get("unparseable_streams", 0)) for t in traces),
        "capped": sum(t.get("stopped") == "max_queries" for t in traces),
        "cost": cost,
        "cost_per_success": cost / len(successes) if successes else math.nan,
    }


def _cost(
    group: pd.DataFrame, traces: list[dict[str, Any]], prices: Mapping[str, Mapping[str, float]]
) -> float:
    """USD, or NaN unless every model involved has a price."""
    total = 0.0
    for model, prompt, completion in zip(
        group["model"], group["prompt_tokens"], group["completion_tokens"], strict=True
    ):
        total += _priced(prices, str(model), prompt, completion)
    for trace in traces:
        for role in ("attacker", "judge"):
            tokens = (trace.get("tokens") or {}).get(role) or {}
            total += _priced(
                prices, str(trace.get(role)), tokens.get("prompt"), tokens.get("completion")
            )
    return total


def _priced(
    prices: Mapping[str, Mapping[str, float]], model: str, prompt: Any, completion: Any
) -> float:
    price = prices.get(model)
    if price is None:
        return math.nan
    prompt = 0 if prompt is None or pd.isna(prompt) else prompt
    completion = 0 if completion is None or pd.isna(completion) else completion
    return price_cost(price, float(prompt), float(completion))
