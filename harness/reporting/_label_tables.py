"""The inputs of an agreement report: a label table from a file or a run, and a collapse map.

A label table has one row per unit and one column per rater. Importing this module is cheap:
pandas, YAML and the store load when a table is read, so that `harness agree` can check its
arguments first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._errors import DataError, UserError

if TYPE_CHECKING:
    from collections.abc import Hashable

    import pandas as pd

    from harness.stats import Collapse

__all__ = ["LABEL_TABLE_SUFFIXES", "load_collapse_map", "read_label_table", "run_label_table"]

LABEL_TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
_YAML_NULLS = {"", "~", "null", "Null", "NULL"}


def read_label_table(path: Path) -> pd.DataFrame:
    """Read a table by its extension; a missing or unreadable file is a user error."""
    if not path.is_file():
        raise DataError(f"table not found: {path}", file=path, fix="give an existing file")
    suffix = path.suffix.lower()
    if suffix not in LABEL_TABLE_SUFFIXES:
        raise DataError(
            f"cannot tell the format of {path.name}",
            file=path,
            fix=f"use a {', '.join(LABEL_TABLE_SUFFIXES)} file",
        )
    import pandas as pd

    try:
        if suffix == ".csv":
            # only empty cells are missing: "NA" or "None" may be real labels
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        if suffix == ".parquet":
            return pd.read_parquet(path)
        # dtype=False keeps labels such as "1" or "True" as written
        return pd.read_json(path, lines=suffix == ".jsonl", dtype=False)
    except Exception as exc:  # pandas and pyarrow raise many types for malformed files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read the table: {first}", file=path) from None


def run_label_table(
    run_dir: Path, raters: list[str] | None, columns: list[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """A run's attempts (their id and the attempt `columns` asked for), one column per grader
    (named after the grader), and the raters: `raters`, or every grader of the run."""
    from harness.annotate import CONSENSUS, annotation_raters, human_consensus
    from harness.reporting._export import label_table
    from harness.store import ATTEMPT_COLUMNS, RunStore

    with RunStore(run_dir) as store:
        graders = store.graders()
        wanted = [c for c in columns or [] if c in ATTEMPT_COLUMNS and c not in graders]
        frame = label_table(store, wanted)
    people = annotation_raters(run_dir)
    if people and CONSENSUS not in graders:  # a reference column, never a rater of its own
        frame[CONSENSUS] = human_consensus(frame, people)
    names = raters or graders
    unknown = [n for n in names if n not in graders]
    if unknown:
        raise UserError(
            f"no grader named {', '.join(unknown)} in this run",
            file=run_dir,
            field="--raters",
            fix=f"graders in this run: {', '.join(graders) or 'none'}",
        )
    if len(names) < 2:
        raise UserError(
            "agreement needs at least two graders",
            file=run_dir,
            fix="grade the run with another grader: harness grade RUN --grader NAME",
        )
    return frame, names


def load_collapse_map(path: Path) -> Collapse:
    """A `{raw_label: collapsed_label}` YAML or JSON file; null means undecidable."""
    import yaml

    from harness.stats import Collapse, label_key

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the label map: {exc.strerror}", file=path) from None
    try:
        # BaseLoader reads every scalar as text: YAML 1.1 would turn a label `no` into False
        loaded = (
            json.loads(text)
            if path.suffix.lower() == ".json"
            else yaml.load(text, Loader=yaml.BaseLoader)
        )
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"cannot parse the label map: {first}", file=path) from None
    if not isinstance(loaded, dict) or not loaded:
        raise DataError(
            "the label map must be a non-empty mapping", file=path, fix="write raw_label: label"
        )
    mapping = {label_key(k): _map_value(v, path) for k, v in loaded.items()}
    return Collapse(f"map:{path}", mapping)


def _map_value(value: Any, path: Path) -> Hashable | None:
    if isinstance(value, str) and value.strip() in _YAML_NULLS:
        return None  # text from the YAML BaseLoader: null means undecidable
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise DataError(
        f"mapped value {value!r} is not a label", file=path, fix="map each label to a scalar"
    )
