"""Exporting a run: one row per attempt, a label_<grader> column per grader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from harness.reporting._outcomes import labels_by_grader, row_of
from harness.store import RunStore

__all__ = ["ExportFormat", "attempt_table", "label_table", "write_table"]

ExportFormat = Literal["csv", "jsonl", "parquet"]


def attempt_table(store: RunStore) -> pd.DataFrame:
    attempts = store.attempts_frame()
    grades = store.grades_frame()
    if grades.empty:
        return attempts
    labels = grades.pivot(index="attempt_id", columns="grader", values="label")
    labels.columns = [f"label_{c}" for c in labels.columns]
    scores = grades.pivot(index="attempt_id", columns="grader", values="score")
    scores = scores.loc[:, scores.notna().any()]
    scores.columns = [f"score_{c}" for c in scores.columns]
    return attempts.merge(labels.join(scores), left_on="attempt_id", right_index=True, how="left")


def label_table(store: RunStore, columns: Sequence[str] = ()) -> pd.DataFrame:
    """Every attempt's id and `columns`, and one column per grader (named after it) with its
    labels, NaN where it gave none: what agreement needs, without the conversations."""
    with store.snapshot() as snapshot:
        attempts = snapshot.attempts(["rowid", "attempt_id", *dict.fromkeys(columns)])
        grades = snapshot.labels()
    frame: pd.DataFrame = attempts.drop_columns(["rowid"]).to_pandas()
    rows = row_of(attempts.column("rowid"))(grades.column("attempt_rowid"))
    for grader, labels in labels_by_grader(grades, rows, len(frame)).items():
        frame[grader] = labels.astype(object)  # text labels, NaN where none, as attempt_table
    return frame


def write_table(table: pd.DataFrame, path: Path, fmt: ExportFormat) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        table.to_csv(path, index=False)
    elif fmt == "jsonl":
        table.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        table.to_parquet(path, index=False)
