"""`harness merge`: shard stores of one experiment combined into one run."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Protocol

from harness._errors import RunStoreError
from harness.core import Manifest, read_manifest, write_manifest
from harness.store._store import (
    ATTEMPT_COLUMNS,
    DB_NAME,
    GRADE_COLUMNS,
    REQUEST_COLUMNS,
    RunStore,
)

__all__ = ["MergeSummary", "ShardTables", "TablesPlanner", "merge_runs"]

MergeSummary = dict[str, int]
# the tables of a run this module writes; any other is another package's (see ShardTables)
OWN_TABLES = frozenset({"meta", "attempts", "grades", "attack_steps", "requests"})


class ShardTables(Protocol):
    """Tables of a run that another package owns (the annotations), copied by it."""

    @property
    def tables(self) -> frozenset[str]:
        """The names of the tables it copies."""

    def create(self, db: sqlite3.Connection) -> None:
        """Its tables in the merged store (outside any transaction)."""

    def copy(self, index: int, db: sqlite3.Connection) -> None:
        """Shard `index`'s rows, the shard attached as `shard`, in the merge's transaction:
        after the shard's attempts, so `temp.kept` holds the ones kept from it."""

    def counts(self, db: sqlite3.Connection) -> dict[str, int]:
        """What the merged run holds, for the summary."""


# (shard stores, their shards as i/N) -> the copier, or None when no shard has the tables
TablesPlanner = Callable[[Sequence[Path], Sequence[str | None]], ShardTables | None]


def merge_runs(
    sources: Sequence[Path], out: Path, extra: Sequence[TablesPlanner] = ()
) -> MergeSummary:
    """Copy every shard's attempts, grades, requests and adaptive-attack steps into `out`,
    refusing shards of other configs; `extra` copy the tables other packages keep in a run
    (`harness merge` passes the annotations'). A shard holding a table nobody copies is
    refused, never merged without it.

    An attempt held by several shards (overlapping slices) is kept from the first that holds
    it, with that shard's grades and steps: those of another shard's copy belong to a reply
    that is not kept."""
    manifests = [_manifest(source) for source in sources]
    _refuse_inconsistent(sources, manifests)
    stores = [source / DB_NAME for source in sources]
    plans = [p for p in (plan(stores, [m.shard for m in manifests]) for plan in extra) if p]
    _refuse_unknown_tables(sources, frozenset().union(OWN_TABLES, *(p.tables for p in plans)))
    if (out / DB_NAME).exists():
        raise RunStoreError(
            "the output directory already holds a run", file=out, fix="merge into a new directory"
        )
    RunStore(out, create=True).close()  # the schema, written by the one place that owns it
    counts: MergeSummary = {"attempts": 0, "grades": 0, "duplicates": 0, "attack_steps": 0}
    for source in sources:
        RunStore(source).close()  # a shard of an older harness gains the columns this one writes
    with closing(sqlite3.connect(out / DB_NAME, isolation_level=None)) as db:
        for plan in plans:
            plan.create(db)
        for index, store in enumerate(stores):
            _copy(db, store, counts, [partial(plan.copy, index) for plan in plans])
        counts["attack_steps"] = db.execute("SELECT COUNT(*) FROM attack_steps").fetchone()[0]
        for plan in plans:
            counts |= plan.counts(db)
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


def _refuse_unknown_tables(sources: Sequence[Path], copied: frozenset[str]) -> None:
    for source in sources:
        with closing(sqlite3.connect(source / DB_NAME)) as db:
            rows = db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        left = sorted({str(r[0]) for r in rows} - copied)
        if left:
            raise RunStoreError(
                f"the run holds tables this merge would not copy: {', '.join(left)}",
                file=source,
                fix="merge with `harness merge` of the harness version that wrote them",
            )


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
    extra: Sequence[Callable[[sqlite3.Connection], None]],
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
        for copy in extra:
            copy(db)
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
