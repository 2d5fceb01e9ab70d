"""`harness import`: build a run store from existing completions or another tool's log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness._errors import DataError
from harness.core import digest, file_sha256
from harness.ingest._flat import ImportColumns
from harness.ingest._registry import choose_importer
from harness.ingest._types import ImportBatch, ImportOptions, Source
from harness.ingest._write import ImportSummary, write_batch

__all__ = ["import_completions", "import_file"]


def import_file(
    source: str | Sequence[str],
    out: Path,
    options: ImportOptions,
    *,
    file_format: str | None = None,
    name: str | None = None,
    force: bool = False,
) -> ImportSummary:
    """Read each file with the importer its content matches (or `file_format`) and store them.

    Several files (say one Inspect log per model) make one run, their configurations side by
    side. Everything is read and checked before the store is opened: a refused file leaves
    `out` as it was.
    """
    sources = [source] if isinstance(source, str) else list(source)
    batches: list[ImportBatch] = []
    fingerprints: list[str] = []
    for location in sources:
        located = Source(location)
        batch = choose_importer(located, file_format).read(located, options)
        if not batch.attempts:
            raise DataError(
                f"no attempt to import ({batch.tally.describe()})",
                file=location,
                fix="check that this is the file the tool wrote after its run",
            )
        batches.append(batch)
        fingerprints.append(batch.fingerprint or _fingerprint(located))
    combined = batches[0] if len(batches) == 1 else _combined(batches)
    flat = {b.format for b in batches} == {"flat"}
    return write_batch(
        combined,
        sources[0] if len(sources) == 1 else sources,
        out,
        fingerprints[0] if len(sources) == 1 else digest(fingerprints),
        name=name,
        harmful_default=options.harmful_default,
        force=force,
        label_map=options.label_map,
        extra_manifest={"columns": options.columns.__dict__} if flat and options.columns else None,
        reads=[(s, b.format, b.tally.describe()) for s, b in zip(sources, batches, strict=True)],
    )


def _combined(batches: list[ImportBatch]) -> ImportBatch:
    return ImportBatch(
        format="+".join(dict.fromkeys(b.format for b in batches)),
        attempts=[a for b in batches for a in b.attempts],
        tally=batches[0].tally,
        run_name=batches[0].run_name,
        details={"files": [b.details for b in batches]},
        raters={r: what for b in batches for r, what in b.raters.items()},
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
    return file_sha256(source.path)
