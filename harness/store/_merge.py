"""`harness merge`: shard stores of one experiment combined into one run."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from harness._errors import RunStoreError
from harness.core import Manifest, read_manifest, write_manifest
from harness.store._store import (
    ATTEMPT_COLUMNS,
    DB_NAME,
    GRADE_COLUMNS,
    REQUEST_COLUMNS,
    RunStore,
)

if TYPE_CHECKING:
    from harness.annotate import AnnotationMerge

__all__ = ["MergeSummary", "merge_runs"]

MergeSummary = dict[str, int]


def merge_runs(sources: Sequence[Path], out: Path) -> MergeSummary:
    """Copy every shard's attempts, grades, requests, adaptive-attack steps and annotations
    into `out`, refusing shards of other configs.

    An attempt held by several shards (overlapping slices) is kept from the first that holds
    it, with that shard's grades and steps: those of another shard's copy belong to a reply
    that is not kept."""
    manifests = [_manifest(source) for source in sources]
    _refuse_inconsistent(sources, manifests)
    if (out / DB_NAME).exists():
        raise RunStoreError(
            "the output directory already holds a run", file=out, fix="merge into a new directory"
        )
    RunStore(out, create=True).close()  # the schema, written by the one place that owns it
    counts: MergeSummary = {"attempts": 0, "grades": 0, "duplicates": 0, "attack_steps": 0}
    for source in sources:
        RunStore(source).close()  # a shard of an older harness gains the columns this one writes
    annotations = _annotations(sources, manifests)
    with closing(sqlite3.connect(out / DB_NAME, isolation_level=None)) as db:
        if annotations is not None:
            annotations.create(db)
        for index, source in enumerate(sources):
            copier = annotations.copier(index) if annotations is not None else None
            _copy(db, source / DB_NAME, counts, copier)
        counts["attack_steps"] = db.execute("SELECT COUNT(*) FROM attack_steps").fetchone()[0]
        if annotations is not None:
            counts |= annotations.counts(db)
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


def _annotations(sources: Sequence[Path], manifests: Sequence[Manifest]) -> AnnotationMerge | None:
    from harness.annotate import AnnotationMerge  # the annotation tables are its to know

    return AnnotationMerge.plan([s / DB_NAME for s in sources], [m.shard for m in manifests])


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


def _copy(
    db: sqlite3.Connection,
    source: Path,
    counts: MergeSummary,
    annotations: Callable[[sqlite3.Connection], None] | None,
) -> None:
    db.execute("ATTACH DATABASE ? AS shard", (str(source),))
    try:
        db.execute("BEGIN IMMEDIATE")
        last = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM attempts").fetchone()[0]
        offered = db.execute("SELECT COUNT(*) FROM shard.attempts").fetchone()[0]
        columns = ", ".join(ATTEMPT_COLUMNS)
        db.execute(
            f"INSERT OR IGNORE INTO attempts ({columns}) SELECT {columns} "
            "FROM shard.attempts ORDER BY rowid"
        )
        # the attempts kept from this shard (not another's copy): the rows appended
        db.execute("DROP TABLE IF EXISTS temp.kept")
        db.execute(
            "CREATE TEMP TABLE kept AS SELECT attempt_id FROM main.attempts WHERE rowid > ?",
            (last,),
        )
        added = db.execute("SELECT COUNT(*) FROM temp.kept").fetchone()[0]
        grades = ", ".join(GRADE_COLUMNS)
        cursor = db.execute(
            f"INSERT INTO grades ({grades}) SELECT {grades} FROM shard.grades "
            "WHERE attempt_id IN (SELECT attempt_id FROM temp.kept)"
        )
        graded = cursor.rowcount
        _copy_steps(db)
        # what every shard spent, so a resume or a re-grade of the merged run counts it
        requests = ", ".join(REQUEST_COLUMNS)
        db.execute(f"INSERT INTO requests ({requests}) SELECT {requests} FROM shard.requests")
        if annotations is not None:
            annotations(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a half-copied shard is not left in the merged run
            db.execute("ROLLBACK")
        raise
    finally:
        db.execute("DROP TABLE IF EXISTS temp.kept")
        db.execute("DETACH DATABASE shard")
    counts["attempts"] += added
    counts["duplicates"] += offered - added
    counts["grades"] += graded


def _copy_steps(db: sqlite3.Connection) -> None:
    """The steps of each adaptive search, all from the one shard whose search is kept: a
    resume of the merged run continues exactly that search."""
    steps = "attempt_id, request_hash, key, role, answer, recorded_at"
    # a search this shard finished (its attempt kept) replaces what another shard, killed
    # or stopped mid-way through the same search, left of it
    db.execute("DELETE FROM main.attack_steps WHERE attempt_id IN (SELECT * FROM temp.kept)")
    db.execute(
        f"INSERT INTO main.attack_steps ({steps}) SELECT {steps} FROM shard.attack_steps "
        "WHERE attempt_id IN (SELECT attempt_id FROM temp.kept)"
    )
    # a search no shard has finished so far: from the first shard that stored steps of it
    db.execute(
        f"INSERT INTO main.attack_steps ({steps}) SELECT {steps} FROM shard.attack_steps "
        "WHERE attempt_id NOT IN (SELECT attempt_id FROM shard.attempts) "
        "AND attempt_id NOT IN (SELECT attempt_id FROM main.attempts) "
        "AND attempt_id NOT IN (SELECT attempt_id FROM main.attack_steps)"
    )


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
