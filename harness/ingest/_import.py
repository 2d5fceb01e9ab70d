"""`harness import`: build a run store from existing completions or another tool's log."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.ingest._flat import ImportColumns
from harness.ingest._registry import choose_importer
from harness.ingest._types import ImportOptions, Source
from harness.ingest._write import ImportSummary, write_batch

__all__ = ["import_completions", "import_file"]


def import_file(
    source: str,
    out: Path,
    options: ImportOptions,
    *,
    file_format: str | None = None,
    name: str | None = None,
    force: bool = False,
) -> ImportSummary:
    """Read `source` with the importer its content matches (or `file_format`) and store it.

    Everything is read and checked before the store is opened: a refused file leaves `out`
    as it was.
    """
    located = Source(source)
    chosen = choose_importer(located, file_format)
    batch = chosen.read(located, options)
    return write_batch(
        batch,
        source,
        out,
        batch.fingerprint or _fingerprint(located),
        name=name,
        harmful_default=options.harmful_default,
        force=force,
        label_map=options.label_map,
        extra_manifest=(
            {"columns": options.columns.__dict__}
            if chosen.name == "flat" and options.columns
            else None
        ),
    )


def import_completions(
    source: str,
    out: Path,
    columns: ImportColumns,
    *,
    name: str | None = None,
    split: str = "train",
    subset: str | None = None,
    harmful_default: bool = True,
    force: bool = False,
) -> int:
    """A flat table, one attempt per row; returns the number of attempts imported."""
    options = ImportOptions(
        harmful_default=harmful_default, columns=columns, split=split, subset=subset
    )
    summary = import_file(source, out, options, file_format="flat", name=name, force=force)
    return summary.attempts


def _fingerprint(source: Source) -> str:
    if source.location.startswith("hf:") or not source.is_file:
        return source.location  # the hub's own fingerprint is not known until loaded
    digest = hashlib.sha256()
    with source.path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
