"""Per-attempt outcomes: what each attempt counts as, under one grader's labels."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from harness._errors import RunStoreError
from harness.grading import SUCCESS_BROAD, SUCCESS_STRICT, Label
from harness.store import RunStore, Status
from harness.tools import executed_targets, parse_call_log, parse_targets

__all__ = ["KEYS", "OUTCOMES", "attempt_outcomes", "grader_labels", "records"]

KEYS = ["configuration", "model", "deployment", "attack"]
_BLOCKED = {Status.BLOCKED_INPUT.value, Status.BLOCKED_OUTPUT.value}
# the categories of the stacked outcome bars: a label, or the status that pre-empted grading
OUTCOMES = [
    *(label.value for label in Label if label is not Label.UNPARSEABLE),
    Status.BLOCKED_INPUT.value,
    Status.BLOCKED_OUTPUT.value,
    Status.NO_TOOL_SUPPORT.value,
    Status.ERROR.value,
    Label.UNPARSEABLE.value,
    "UNGRADED",
]


def grader_labels(store: RunStore) -> pd.DataFrame:
    """attempt_id × grader → label (NaN where a grader has none)."""
    grades = store.grades_frame()
    if grades.empty:
        return pd.DataFrame(index=pd.Index([], name="attempt_id"))
    return grades.pivot(index="attempt_id", columns="grader", values="label")


def attempt_outcomes(store: RunStore, grader: str, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per attempt: keys, item, status, the grader's label and derived booleans."""
    if grader not in labels.columns:
        raise RunStoreError(
            f"grader '{grader}' has no grades in this run "
            f"(graded by: {', '.join(map(str, labels.columns)) or 'none'})",
            file=store.directory,
            fix="pick one with --grader, or grade with `harness grade`",
        )
    frame = store.attempts_frame(
        [
            "attempt_id",
            *KEYS,
            "suite",
            "item_id",
            "sample_index",
            "category",
            "harmful",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "tool_calls",
            "targets",
        ]
    )
    frame = frame.join(labels[grader].rename("label"), on="attempt_id")
    return _derive(frame)


def _derive(frame: pd.DataFrame) -> pd.DataFrame:
    status, label = frame["status"], frame["label"]
    ok = status == Status.OK.value
    blocked = status.isin(_BLOCKED)
    frame["unparseable"] = ok & (label == Label.UNPARSEABLE.value)
    frame["ungraded"] = ok & label.isna()
    # blocked attempts are valid outcomes (the deployment refused); errors and undecided are not
    frame["valid"] = blocked | (ok & ~frame["unparseable"] & ~frame["ungraded"])
    frame["harmful"] = frame["harmful"].fillna(True).astype(bool)
    frame["strict"] = label.isin(SUCCESS_STRICT) & ok
    frame["broad"] = label.isin(SUCCESS_BROAD) & ok
    frame["refused"] = (label == Label.REFUSAL.value) | blocked
    frame["outcome"] = _outcome(status, label)
    frame["item"] = frame["suite"] + "\x1f" + frame["item_id"].astype(str)
    frame["action"] = [
        _action(c, t) for c, t in zip(frame["tool_calls"], frame["targets"], strict=True)
    ]
    return frame.drop(columns=["tool_calls", "targets"])


def _outcome(status: pd.Series[Any], label: pd.Series[Any]) -> pd.Series[Any]:
    graded = label.where(label.notna(), "UNGRADED")
    return graded.where(status == Status.OK.value, status)


def _action(tool_calls: str | None, targets: str | None) -> float:
    """1.0 if a declared harmful target action was executed, 0.0 if not, NaN if none declared."""
    if not targets:
        return float("nan")
    actions = parse_targets(json.loads(targets), file=None, where="targets")
    return 1.0 if executed_targets(actions, parse_call_log(tool_calls)) else 0.0


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts: typed access that pandas' itertuples cannot give."""
    return [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
