"""Loading prompt suites (local files, or Hugging Face datasets) into typed items."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._errors import DataError
from harness.config import LoadedConfig, SuiteSpec
from harness.core import file_sha256
from harness.suites._local import ParseError, read_local
from harness.tools import parse_targets

__all__ = ["LoadedSuite", "SuiteItem", "coerce_harmful", "load_suite", "load_table"]

HF_PREFIX = "hf:"
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
TRUE_WORDS = {"1", "true", "yes", "y", "t", "harmful", "unsafe"}
FALSE_WORDS = {"0", "false", "no", "n", "f", "benign", "safe"}


@dataclass(frozen=True, slots=True)  # slots: a 100k-item suite is held for the whole run
class SuiteItem:
    suite: str
    item_id: str
    prompt: str
    category: str | None
    harmful: bool
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # declared harmful tool actions, as {"tool": ..., "arguments": {name: regex}} dicts
    targets: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class LoadedSuite:
    name: str
    source: str
    fingerprint: str  # sha256 of a local file, or the dataset's own fingerprint for hf: ids
    items: tuple[SuiteItem, ...]


def load_suite(spec: SuiteSpec, config: LoadedConfig, index: int) -> LoadedSuite:
    where = f"suites[{index}]"
    dataset, fingerprint = _load_dataset(spec, config, where)
    if spec.shuffle_seed is not None:
        dataset = dataset.shuffle(seed=spec.shuffle_seed)
    if spec.limit is not None:
        dataset = dataset.select(range(min(spec.limit, len(dataset))))
    columns = set(dataset.column_names) if len(dataset) else set()
    items = _to_items(_rows(dataset), columns, spec, config.path, where)
    return LoadedSuite(spec.name, spec.source, fingerprint, tuple(items))


def _rows(dataset: Any, batch: int = 10_000) -> Iterator[dict[str, Any]]:
    """The rows as to_list() gives them, a batch at a time: never all of them as dicts."""
    if len(dataset) <= batch:
        yield from dataset.to_list()
        return
    for start in range(0, len(dataset), batch):
        yield from dataset.select(range(start, min(start + batch, len(dataset)))).to_list()


def load_table(
    source: str,
    *,
    file_format: str = "auto",
    split: str = "train",
    subset: str | None = None,
    revision: str | None = None,
    origin: str | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Read any supported table (file or hf: id) into rows, plus its fingerprint."""
    dataset, fingerprint = _read(source, file_format, split, subset, revision, origin, None)
    return dataset.to_list(), fingerprint


def _load_dataset(spec: SuiteSpec, config: LoadedConfig, where: str) -> tuple[Any, str]:
    source = spec.source
    if not source.startswith(HF_PREFIX):
        source = str(config.resolve_path(source))
    return _read(
        source,
        spec.format,
        spec.split,
        spec.subset,
        spec.revision,
        str(config.path),
        f"{where}.source",
    )


def _read(
    source: str,
    file_format: str,
    split: str,
    subset: str | None,
    revision: str | None,
    origin: str | None,
    field_name: str | None,
) -> tuple[Any, str]:
    """A datasets.Dataset for an hf: id, a LocalTable (the same interface) for a file."""
    if source.startswith(HF_PREFIX):
        return _read_hub(source, split, subset, revision, origin, field_name)
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"suite file not found: {path}",
            file=origin or path,
            field=field_name,
            fix="give a path relative to the config file, or hf:org/name for a hub dataset",
        )
    builder = FORMATS.get(path.suffix.lower()) if file_format == "auto" else _builder(file_format)
    if builder is None:
        raise DataError(
            f"cannot tell the format of {path.name}",
            file=origin or path,
            field=field_name,
            fix="use a .jsonl, .json, .csv or .parquet file, or set format:",
        )
    try:
        table = read_local(path, builder)
    except (ParseError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot parse {path} as {builder}: {_first_line(exc)}",
            file=origin or path,
            field=field_name,
            fix=f"check that the file is valid {builder}",
        ) from None
    return table, file_sha256(path)


def _read_hub(
    source: str,
    split: str,
    subset: str | None,
    revision: str | None,
    origin: str | None,
    field_name: str | None,
) -> tuple[Any, str]:
    import datasets  # heavy import: paid only for hub datasets

    datasets.disable_progress_bars()
    # failures are re-raised as one-line DataErrors; datasets' own log lines would duplicate them
    logging.getLogger("datasets").setLevel(logging.CRITICAL)
    name = source.removeprefix(HF_PREFIX)
    try:
        dataset = datasets.load_dataset(name, subset, split=split, revision=revision)
    except Exception as exc:  # offline, unknown id, gated, bad split: all reported the same way
        raise DataError(
            f"cannot load Hugging Face dataset '{name}' (split {split!r}): {_first_line(exc)}",
            file=origin or source,
            field=field_name,
            fix="check the id, split and subset; without network, download it to a local file",
        ) from None
    return dataset, f"hf:{name}@{revision or 'default'}:{dataset._fingerprint}"


def _builder(file_format: str) -> str:
    return "json" if file_format == "jsonl" else file_format


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _to_items(
    rows: Iterable[dict[str, Any]], present: set[str], spec: SuiteSpec, origin: Path, where: str
) -> list[SuiteItem]:
    columns = spec.columns
    explicit = columns.model_fields_set
    for key in ("id", "prompt", "category", "harmful", "targets"):
        column = getattr(columns, key)
        if column is not None and column not in present and (key in explicit or key == "prompt"):
            raise DataError(
                f"column '{column}' not found in {spec.source} "
                f"(columns: {', '.join(sorted(present))})",
                file=origin,
                field=f"{where}.columns.{key}",
                fix="map it to an existing column under columns:",
            )
    items: list[SuiteItem] = []
    seen: set[str] = set()
    mapped = {
        c
        for c in (columns.id, columns.prompt, columns.category, columns.harmful, columns.targets)
        if c
    }
    for row_number, row in enumerate(rows):
        item = _to_item(row, row_number, spec, mapped, origin, where)
        if item.item_id in seen:
            raise DataError(
                f"duplicate id '{item.item_id}' in {spec.source}",
                file=origin,
                field=f"{where}.columns.id",
                fix="ids must be unique within a suite",
            )
        seen.add(item.item_id)
        items.append(item)
    return items


def _to_item(
    row: dict[str, Any],
    row_number: int,
    spec: SuiteSpec,
    mapped: set[str],
    origin: Path,
    where: str,
) -> SuiteItem:
    columns = spec.columns
    prompt = row.get(columns.prompt)
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(
            f"row {row_number} of {spec.source} has an empty or non-text prompt",
            file=origin,
            field=f"{where}.columns.prompt",
            fix="remove the row or fill in its prompt",
        )
    raw_id = row.get(columns.id) if columns.id else None
    category = row.get(columns.category) if columns.category else None
    harmful_raw = row.get(columns.harmful) if columns.harmful else None
    try:
        harmful = spec.harmful if _missing(harmful_raw) else coerce_harmful(harmful_raw)
    except ValueError as exc:
        raise DataError(
            f"row {row_number}: {exc}",
            file=origin,
            field=f"{where}.columns.harmful",
            fix="use true/false, 1/0, or harmful/benign",
        ) from None
    return SuiteItem(
        suite=spec.name,
        item_id=str(row_number) if _missing(raw_id) else str(raw_id),
        prompt=prompt,
        category=None if _missing(category) else str(category),
        harmful=harmful,
        meta={k: v for k, v in row.items() if k not in mapped},
        targets=_targets(row, columns.targets, origin, f"{where} row {row_number}"),
    )


def _targets(
    row: dict[str, Any], column: str | None, origin: Path, where: str
) -> tuple[dict[str, Any], ...]:
    raw = row.get(column) if column else None
    if raw is None or _missing(raw) or raw == "" or raw == []:
        return ()
    actions = parse_targets(raw, file=str(origin), where=f"{where}.targets")
    return tuple({"tool": a.tool, "arguments": dict(a.arguments)} for a in actions)


def coerce_harmful(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        # a 1/0 column with blank cells is read as floats: 1.0 and 0.0
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"harmful value {value!r} is not a boolean")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
