"""`harness merge`: shard stores of one experiment combined into one run."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from harness._errors import RunStoreError
from harness.core import Manifest, read_manifest, write_manifest
from harness.store._store import (
    ATTEMPT_COLUMNS,
    DB_NAME,
    GRADE_COLUMNS,
    REQUEST_COLUMNS,
    RunStore,
)

__all__ = ["MergeSummary", "merge_runs"]

MergeSummary = dict[str, int]


def merge_runs(sources: Sequence[Path], out: Path) -> MergeSummary:
    """Copy every shard's attempts and grades into `out`, refusing shards of other configs."""
    manifests = [_manifest(source) for source in sources]
    _refuse_inconsistent(sources, manifests)
    if (out / DB_NAME).exists():
        raise RunStoreError(
            "the output directory already holds a run", file=out, fix="merge into a new directory"
        )
    RunStore(out, create=True).close()  # the schema, written by the one place that owns it
    counts: MergeSummary = {"attempts": 0, "grades": 0, "duplicates": 0}
    for source in sources:
        RunStore(source).close()  # a shard of an older harness gains the columns this one writes
    with sqlite3.connect(out / DB_NAME, isolation_level=None) as db:
        for source in sources:
            _copy(db, source / DB_NAME, counts)
    with RunStore(out) as merged:
        merged.build_read_indexes()  # in bulk, once: a report of the merged run reads them
    write_manifest(out, _merged_manifest(manifests, sources, counts))
    return counts


def _manifest(source: Path) -> Manifest:
    if not (source / DB_NAME).is_file():
        raise RunStoreError(
            "no run store here",
            file=source,
            fix="pass run directories written by harness run --shard",
        )
    manifest = read_manifest(source)
    if manifest is None:
        raise RunStoreError(
            "the run has no manifest.json",
            file=source,
            fix="pass run directories written by harness run",
        )
    return manifest


def _refuse_inconsistent(sources: Sequence[Path], manifests: Sequence[Manifest]) -> None:
    first = manifests[0]
    for source, manifest in zip(sources[1:], manifests[1:], strict=True):
        for key in ("config_hash", "suites", "harness_version"):
            if getattr(manifest, key) != getattr(first, key):
                raise RunStoreError(
                    f"{key} differs from {sources[0]}'s: these are not shards of one experiment",
                    file=source,
                    fix="merge only the shards of one config (same --shard N)",
                )
    shards = [m.shard for m in manifests]
    if len(set(shards)) != len(shards):
        raise RunStoreError(
            f"the same shard is given twice: {shards}", file=sources[-1], fix="pass each shard once"
        )


def _copy(db: sqlite3.Connection, source: Path, counts: MergeSummary) -> None:
    db.execute("ATTACH DATABASE ? AS shard", (str(source),))
    try:
        db.execute("BEGIN IMMEDIATE")
        before = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        offered = db.execute("SELECT COUNT(*) FROM shard.attempts").fetchone()[0]
        columns = ", ".join(ATTEMPT_COLUMNS)
        db.execute(
            f"INSERT OR IGNORE INTO attempts ({columns}) SELECT {columns} "
            "FROM shard.attempts ORDER BY rowid"
        )
        added = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] - before
        grades = ", ".join(GRADE_COLUMNS)
        cursor = db.execute(
            f"INSERT OR IGNORE INTO grades ({grades}) SELECT {grades} FROM shard.grades"
        )
        graded = cursor.rowcount
        # what every shard spent, so a resume or a re-grade of the merged run counts it
        requests = ", ".join(REQUEST_COLUMNS)
        db.execute(f"INSERT INTO requests ({requests}) SELECT {requests} FROM shard.requests")
        db.execute("COMMIT")
    finally:
        db.execute("DETACH DATABASE shard")
    counts["attempts"] += added
    counts["duplicates"] += offered - added
    counts["grades"] += graded


def _merged_manifest(
    manifests: Sequence[Manifest], sources: Sequence[Path], counts: MergeSummary
) -> Manifest:
    stored = manifests[0].stored()
    merged = {k: v for k, v in stored.items() if k not in ("created_at", "updated_at")}
    merged["shard"] = None
    merged["merged_from"] = [
        {"run": str(s), "shard": m.shard} for s, m in zip(sources, manifests, strict=True)
    ]
    merged["plan_size"] = sum(int(m.plan_size or 0) for m in manifests)
    merged["merged_counts"] = counts
    return Manifest.from_stored(merged)
