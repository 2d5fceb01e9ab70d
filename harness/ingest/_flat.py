"""Flat tables (CSV, JSON Lines, JSON, Parquet, `hf:` datasets) with a column mapping.

One attempt per row. The prompt must be text and the response text or empty: a row whose
prompt is missing, or whose prompt or response is a list or an object (another tool's log
read as a table), is refused, naming the row and the column, never stored as Python text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._errors import DataError
from harness.ingest._registry import importer
from harness.ingest._types import ImportBatch, ImportedAttempt, ImportOptions, Source, Tally
from harness.suites import coerce_harmful, load_table

__all__ = ["FlatImporter", "ImportColumns"]

_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ImportColumns:
    prompt: str = "prompt"
    response: str = "response"
    id: str | None = None
    category: str | None = None
    harmful: str | None = None
    model: str | None = None
    configuration: str | None = None


@importer("flat")
class FlatImporter:
    """A flat table (CSV, JSON Lines, JSON, Parquet, `hf:` dataset): one attempt per row."""

    name = "flat"
    expects = (
        "a CSV or Parquet table, or JSON/JSON Lines rows of plain values, with a prompt and "
        "a response column (--prompt, --response), or hf:org/name"
    )

    def recognise(self, source: Source) -> bool:
        if source.location.startswith("hf:"):
            return True
        if source.head.startswith(b"PAR1"):
            return True
        suffix = source.path.suffix.lower()
        if suffix in (".csv", ".tsv"):
            return source.text is not None
        document = source.document
        if isinstance(document, list):
            row = document[0] if document else None
        elif isinstance(document, dict):
            row = document  # JSON Lines of one line (or one object): a row, if its values are
        else:
            row = source.first_line
        # rows of plain values only: nested objects are another tool's records
        return (
            isinstance(row, dict)
            and bool(row)
            and all(isinstance(v, _SCALARS) for v in row.values())
        )

    def read(self, source: Source, options: ImportOptions) -> ImportBatch:
        columns: ImportColumns = options.columns or ImportColumns()
        rows, fingerprint = load_table(source.location, split=options.split, subset=options.subset)
        _check_columns(rows, columns, source.location)
        tally = Tally("rows")
        run_name = (
            source.location.removeprefix("hf:").replace("/", "_")
            if source.location.startswith("hf:")
            else Path(source.location).stem
        )
        attempts = []
        try:
            for index, row in enumerate(rows):
                tally.read += 1
                attempts.append(_attempt(row, index, columns, run_name, source.location))
        except DataError as exc:
            raise _with_hint(exc, source) from None
        return ImportBatch(
            format=self.name,
            attempts=attempts,
            tally=tally,
            run_name=run_name,
            fingerprint=fingerprint,
        )


def _with_hint(error: DataError, source: Source) -> DataError:
    """A table that is another tool's log: say which reader reads it."""
    from harness.ingest._registry import registered_importers

    others = [n for n, i in registered_importers().items() if n != "flat" and i.recognise(source)]
    if not others:
        return error
    return DataError(
        error.message,
        file=error.file,
        field=error.field,
        fix=f"this is a {others[0]} log: import it with --format {others[0]}",
    )


def _check_columns(rows: list[dict[str, Any]], columns: ImportColumns, source: str) -> None:
    present = set(rows[0]) if rows else set()
    for option, column in columns.__dict__.items():
        if column is not None and column not in present:
            raise DataError(
                f"column '{column}' not found (columns: {', '.join(sorted(present))})",
                file=source,
                field=f"--{option}",
                fix=f"pass --{option} with an existing column",
            )


def _attempt(
    row: Mapping[str, Any], index: int, columns: ImportColumns, run_name: str, source: str
) -> ImportedAttempt:
    prompt = _text(row.get(columns.prompt), index, "prompt", columns.prompt, source)
    if prompt is None or not prompt.strip():
        raise DataError(
            f"row {index}: the prompt is empty",
            file=source,
            field=f"--prompt {columns.prompt}",
            fix="every row needs its prompt; remove the row or fill it in",
        )
    response = _text(row.get(columns.response), index, "response", columns.response, source)
    item_id = _opt_str(row.get(columns.id)) if columns.id else None
    if columns.id and item_id is None:
        raise DataError(
            f"row {index}: the id is empty",
            file=source,
            field=f"--id {columns.id}",
            fix="every row needs an id in that column",
        )
    model = (_opt_str(row.get(columns.model)) if columns.model else None) or run_name
    configuration = (
        _opt_str(row.get(columns.configuration)) or model if columns.configuration else model
    )
    mapped = {c for c in columns.__dict__.values() if c}
    return ImportedAttempt(
        item_id=item_id if item_id is not None else str(index),
        prompt=prompt,
        response=response,
        model=model,
        configuration=configuration,
        deployment="imported",
        category=_opt_str(row.get(columns.category)) if columns.category else None,
        harmful=_harmful(row, columns, index, source),
        meta={k: _cell(v) for k, v in row.items() if k not in mapped},
    )


def _text(value: Any, index: int, what: str, column: str, source: str) -> str | None:
    value = _cell(value)
    if value is None or isinstance(value, str):
        return value
    kinds: dict[type, str] = {dict: "an object", list: "a list"}
    kind = kinds.get(type(value), f"a {type(value).__name__}")
    raise DataError(
        f"row {index}: the {what} is {kind}, not text",
        file=source,
        field=f"--{what} {column}",
        fix=(
            "point --" + what + " at a text column; a log of Inspect, garak, promptfoo, "
            "HarmBench or JailbreakBench is read with --format NAME"
        ),
    )


def _harmful(
    row: Mapping[str, Any], columns: ImportColumns, index: int, source: str
) -> bool | None:
    value = _cell(row.get(columns.harmful)) if columns.harmful else None
    if value is None:
        return None
    try:
        return coerce_harmful(value)
    except ValueError as exc:
        raise DataError(
            f"row {index}: {exc}",
            file=source,
            field="--harmful",
            fix="use true/false, 1/0, harmful/benign or safe/unsafe",
        ) from None


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _opt_str(value: Any) -> str | None:
    value = _cell(value)
    return None if value is None else str(value)
