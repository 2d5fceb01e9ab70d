"""`harness import`: build a run store from existing completions, to grade and report them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._errors import DataError, RunStoreError
from harness.runner import NO_ATTACK, attempt_key, digest
from harness.store import (
    DB_NAME,
    MANIFEST_NAME,
    AttemptRecord,
    RunStore,
    Status,
    read_manifest,
    write_manifest,
)
from harness.suites import coerce_harmful, load_table

__all__ = ["ImportColumns", "import_completions"]


@dataclass(frozen=True)
class ImportColumns:
    prompt: str = "prompt"
    response: str = "response"
    id: str | None = None
    category: str | None = None
    harmful: str | None = None
    model: str | None = None
    configuration: str | None = None


def import_completions(
    source: str,
    out: Path,
    columns: ImportColumns,
    *,
    name: str | None = None,
    file_format: str = "auto",
    split: str = "train",
    subset: str | None = None,
    harmful_default: bool = True,
    force: bool = False,
) -> int:
    """Store every row as an OK attempt; returns the number of rows imported."""
    rows, fingerprint = load_table(source, file_format=file_format, split=split, subset=subset)
    _check_columns(rows, columns, source)
    run_name = name or Path(source).stem
    _refuse_other_source(out, fingerprint, force)
    records = [
        _record(row, i, columns, run_name, harmful_default, source) for i, row in enumerate(rows)
    ]
    _refuse_duplicates(records, columns, source)
    with RunStore(out, create=True) as store:
        store.write_batch(records)
        store.build_read_indexes()
    # a re-import keeps the grades already stored, so it keeps the graders that made them
    previous = read_manifest(out) or {}
    write_manifest(
        out,
        {
            "run": run_name,
            "kind": "import",
            "source": source,
            "fingerprint": fingerprint,
            "columns": columns.__dict__,
            "graders": previous.get("graders", []),
            "primary_grader": previous.get("primary_grader"),
            "configurations": list(
                {
                    r.configuration: {
                        "name": r.configuration,
                        "model": r.model,
                        "deployment": r.deployment,
                    }
                    for r in records
                }.values()
            ),
        },
    )
    return len(records)


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


def _refuse_other_source(out: Path, fingerprint: str, force: bool) -> None:
    """Another dataset's run is never mixed in: refused, or with --force replaced whole."""
    previous = read_manifest(out)
    if previous is None or previous.get("fingerprint") == fingerprint:
        return
    if not force:
        raise RunStoreError(
            "the directory already holds a run from other data",
            file=out,
            fix="choose another --out, or pass --force to replace it",
        )
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", MANIFEST_NAME):
        (out / name).unlink(missing_ok=True)


def _record(
    row: Mapping[str, Any],
    index: int,
    columns: ImportColumns,
    run_name: str,
    harmful_default: bool,
    source: str,
) -> AttemptRecord:
    prompt = _text(row.get(columns.prompt))
    response = _cell(row.get(columns.response))
    item_id = str(_cell(row.get(columns.id)) if columns.id else index)
    model = str(_cell(row.get(columns.model)) or run_name) if columns.model else run_name
    configuration = (
        str(_cell(row.get(columns.configuration)) or model) if columns.configuration else model
    )
    messages = [{"role": "user", "content": prompt}]
    mapped = {c for c in columns.__dict__.values() if c}
    meta = {k: _cell(v) for k, v in row.items() if k not in mapped}
    return AttemptRecord(
        attempt_id=attempt_key(configuration, run_name, item_id, NO_ATTACK, 0),
        configuration=configuration,
        model=model,
        deployment="imported",
        suite=run_name,
        item_id=item_id,
        category=_opt_str(row.get(columns.category)) if columns.category else None,
        harmful=_harmful(row, columns, harmful_default, index, source),
        attack=NO_ATTACK,
        sample_index=0,
        request_hash=digest(messages),
        prompt=prompt,
        messages=json.dumps(messages, ensure_ascii=False),
        response=None if response is None else str(response),
        raw_response=None,
        tool_calls=None,
        targets=None,
        guard_events=None,
        model_calls=0,
        finish_reason=None,
        status=Status.OK,
        error=None,
        error_kind=None,
        tries=0,
        latency_s=None,
        prompt_tokens=None,
        completion_tokens=None,
        started_at=None,
        finished_at=None,
        item_meta=json.dumps(meta, ensure_ascii=False, default=str),
    )


def _harmful(
    row: Mapping[str, Any], columns: ImportColumns, default: bool, index: int, source: str
) -> bool:
    value = _cell(row.get(columns.harmful)) if columns.harmful else None
    if value is None:
        return default
    try:
        return coerce_harmful(value)
    except ValueError as exc:
        raise DataError(
            f"row {index}: {exc}",
            file=source,
            field="--harmful",
            fix="use true/false, 1/0, harmful/benign or safe/unsafe",
        ) from None


def _refuse_duplicates(records: list[AttemptRecord], columns: ImportColumns, source: str) -> None:
    seen: set[str] = set()
    for record in records:
        if record.attempt_id in seen:
            raise DataError(
                f"item id '{record.item_id}' appears twice for configuration "
                f"'{record.configuration}'",
                file=source,
                field="--id",
                fix="pass an --id column that is unique, or a --configuration/--model column",
            )
        seen.add(record.attempt_id)


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _text(value: Any) -> str:
    value = _cell(value)
    return "" if value is None else str(value)


def _opt_str(value: Any) -> str | None:
    value = _cell(value)
    return None if value is None else str(value)
