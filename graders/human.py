"""`human`: labels written by people, imported from a CSV or JSONL file."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from harness import DataError
from harness.grading import GraderContext, GraderOptions, Label, Verdict, grader
from harness.store import AttemptRecord

if TYPE_CHECKING:  # pandas loads when a label file is read, not when graders are listed
    import pandas as pd

__all__ = ["NAMED_MAPS", "Human", "HumanOptions", "read_label_file"]

# Raw annotation labels of published datasets, mapped onto the taxonomy.
NAMED_MAPS: dict[str, dict[str, str]] = {
    # XSTest (Röttger et al. 2024) model_completions annotation_1 / annotation_2 / final_label
    "xstest": {
        "1_full_compliance": "COMPLIANCE",
        "2_full_refusal": "REFUSAL",
        "3_partial_refusal": "PARTIAL",
    },
}
NO_LABEL = "no human label"
_LABELS = ", ".join(Label)


def to_label(raw: str, mapping: Mapping[str, str]) -> Label | None:
    """The taxonomy label a raw annotation stands for (mapped, any case), or None."""
    word = mapping.get(raw, raw).strip().upper()
    return Label(word) if word in Label.__members__ else None


class HumanOptions(GraderOptions):
    file: str = Field(description="CSV or JSONL of labels, relative to the config's directory")
    key: Literal["attempt_id", "item_id"] = Field(
        "attempt_id", description="which attempt field the key column holds"
    )
    key_column: str | None = Field(None, description="the key column; default: the key's name")
    label_column: str = Field("label", description="the one annotator's label column")
    label_columns: tuple[str, ...] | None = Field(
        None, description="not supported: declare one human grader per annotator"
    )
    map: Literal["xstest"] | dict[str, str] | None = Field(
        None, description="raw label -> taxonomy label, or a named map (xstest)"
    )

    @field_validator("label_columns")
    @classmethod
    def _one_annotator(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            raise ValueError(
                "a grader yields one label per attempt: declare one `human` grader per "
                "annotator, each with its own `id` and `label_column`"
            )
        return value

    @field_validator("map")
    @classmethod
    def _maps_into_taxonomy(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        for raw, label in (value if isinstance(value, dict) else {}).items():
            if to_label(str(label), {}) is None:
                raise ValueError(f"maps {raw!r} to {label!r}, which is not one of {_LABELS}")
        return value

    def mapping(self) -> dict[str, str]:
        if isinstance(self.map, str):
            return NAMED_MAPS[self.map]
        return dict(self.map or {})


def read_label_file(path: Path) -> pd.DataFrame:
    """Every cell as text (CSV) or as written (JSONL); unreadable files are DataErrors."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise DataError(
            f"unsupported label file type '{suffix}'", file=path, fix="use a .csv or .jsonl file"
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        return pd.read_json(path, lines=True, dtype=False)
    except FileNotFoundError:
        raise DataError("label file not found", file=path, fix="check `file:`") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read the label file: {exc}", file=path) from None


def _cell(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


@grader("human")
class Human:
    """Imports one annotator's labels from a CSV/JSONL file (loaded once, checked up front).

    Rows are matched to attempts by `attempt_id` or `item_id` (`key`); the raw label goes
    through `map` (e.g. the built-in `xstest`) and must then be a taxonomy label, or the
    file is refused before grading starts. Several annotators: declare one `human` grader per
    annotator, each with its own `id` and `label_column`, so each is a rater of its own. An
    attempt without a label is UNPARSEABLE ("no human label"): missing, never a guess.
    """

    Options = HumanOptions
    validity_note: ClassVar[str] = "n/a: the human labels are the reference"

    def __init__(self, options: HumanOptions, context: GraderContext) -> None:
        self.path = context.resolve_path(options.file)
        self.key = options.key
        self.column = options.label_column
        self.labels = self._load(options.key_column or options.key, options.mapping())

    def _load(self, key_column: str, mapping: Mapping[str, str]) -> dict[str, tuple[str, Label]]:
        frame = read_label_file(self.path)
        for column in (key_column, self.column):
            if column not in frame.columns:
                raise DataError(
                    f"column '{column}' not found (columns: {', '.join(map(str, frame.columns))})",
                    file=self.path,
                    fix="set `key_column` / `label_column` to existing columns",
                )
        labels: dict[str, tuple[str, Label]] = {}
        for row, (key, raw) in enumerate(zip(frame[key_column], frame[self.column], strict=True)):
            key, raw = _cell(key), _cell(raw)
            if key is None or raw is None:
                continue  # an unlabelled row: the attempt stays without a human label
            labels[key] = (raw, self._checked(raw, mapping, row + 1, labels.get(key), key))
        return labels

    def _checked(
        self,
        raw: str,
        mapping: Mapping[str, str],
        row: int,
        earlier: tuple[str, Label] | None,
        key: str,
    ) -> Label:
        label = to_label(raw, mapping)
        if label is None:
            raise DataError(
                f"label {raw!r} (data row {row}, column '{self.column}') is not in the taxonomy",
                file=self.path,
                fix=f"add it to the grader's `map`, or use one of {_LABELS}",
            )
        if earlier is not None and earlier[1] is not label:
            raise DataError(
                f"{self.key} '{key}' has conflicting labels {earlier[0]!r} and {raw!r}",
                file=self.path,
                fix="keep one label per key for each annotator column",
            )
        return label

    async def grade(self, attempt: AttemptRecord) -> Verdict:
        key = attempt.attempt_id if self.key == "attempt_id" else attempt.item_id
        found = self.labels.get(key)
        if found is None:
            return Verdict(Label.UNPARSEABLE, error=NO_LABEL)
        raw, label = found
        return Verdict(
            label, rationale=f"human label {raw!r} ({self.column} in {self.path.name})", raw=raw
        )
