"""The annotation tables of shard runs, carried into their merged run (`harness merge`).

Raters, the audit log and the samples are copied; the labels themselves are grades, which the
merge copies with their attempts. A sample is one draw from one run's attempts, given to every
annotator of it. Shards that drew different samples under one name (the same `--sample N
--seed S` on each shard) cannot make one sample of the merged run: their union is not a draw
of its attempts, and its stored definition (size, strata) would describe neither. So each is
kept apart, renamed after its shard (`n50-seed0.shard-1-of-4`), with its items and log: no
label and no record of who labelled what is lost. A name held by one shard, or by several with
the same items, keeps its name, so its annotators carry on with the same command.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from harness.annotate._store import SCHEMA

__all__ = ["AnnotationMerge"]

_TABLES = ("annotation_samples", "annotation_items", "annotation_raters", "annotation_log")
# a sample as its annotators see it: how it was drawn, and its items in order
Drawn = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class AnnotationMerge:
    """Which shards were annotated, and the new name of each sample that must be renamed."""

    annotated: tuple[bool, ...]  # per shard, in merge order
    renames: tuple[dict[str, str], ...]  # per shard: sample name -> its name once merged

    @classmethod
    def plan(cls, stores: Sequence[Path], shards: Sequence[str | None]) -> AnnotationMerge | None:
        """None when no shard was annotated (the merged run gets no annotation tables)."""
        drawn = [_samples(store) for store in stores]
        if all(samples is None for samples in drawn):
            return None
        holders: dict[str, set[Drawn]] = {}
        for samples in drawn:
            for name, sample in (samples or {}).items():
                holders.setdefault(name, set()).add(sample)
        clashing = {name for name, versions in holders.items() if len(versions) > 1}
        renames = tuple(
            {n: f"{n}.{_shard_tag(shard, i)}" for n in (samples or {}) if n in clashing}
            for i, (samples, shard) in enumerate(zip(drawn, shards, strict=True))
        )
        return cls(tuple(samples is not None for samples in drawn), renames)

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(_TABLES)

    def create(self, db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)

    def copy(self, index: int, db: sqlite3.Connection) -> None:
        """Shard `index` (attached as `shard`), inside the merge's transaction."""
        if not self.annotated[index]:
            return
        db.execute("CREATE TEMP TABLE IF NOT EXISTS renames (old TEXT PRIMARY KEY, new TEXT)")
        db.execute("DELETE FROM temp.renames")
        db.executemany("INSERT INTO temp.renames VALUES (?, ?)", self.renames[index].items())
        named = "COALESCE((SELECT new FROM temp.renames WHERE old = {0}), {0})"
        db.execute(
            "INSERT OR IGNORE INTO main.annotation_raters (rater, annotator, kind, created_at) "
            "SELECT rater, annotator, kind, created_at FROM shard.annotation_raters"
        )
        # a sample several shards hold with the same items is one sample: stored once
        db.execute(
            "INSERT OR IGNORE INTO main.annotation_samples (name, definition, created_at) "
            f"SELECT {named.format('name')}, definition, created_at "
            "FROM shard.annotation_samples"
        )
        db.execute(
            "INSERT OR IGNORE INTO main.annotation_items (sample, position, attempt_id) "
            f"SELECT {named.format('sample')}, position, attempt_id FROM shard.annotation_items"
        )
        db.execute(
            "INSERT INTO main.annotation_log "
            "(sample, rater, annotator, attempt_id, action, label, note, at) "
            f"SELECT {named.format('sample')}, rater, annotator, attempt_id, action, label, "
            "note, at FROM shard.annotation_log ORDER BY id"
        )

    def counts(self, db: sqlite3.Connection) -> dict[str, int]:
        def count(table: str) -> int:
            return int(db.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0])

        return {
            "annotation_samples": count("annotation_samples"),
            "annotation_samples_renamed": sum(len(r) for r in self.renames),
            "annotation_log": count("annotation_log"),
        }


def _samples(store: Path) -> dict[str, Drawn] | None:
    """The shard's stored samples; None if it was never annotated."""
    with closing(sqlite3.connect(store)) as db:
        tables = {
            str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not tables.issuperset(_TABLES):
            return None
        items: dict[str, list[str]] = {}
        for sample, attempt_id in db.execute(
            "SELECT sample, attempt_id FROM annotation_items ORDER BY sample, position"
        ):
            items.setdefault(str(sample), []).append(str(attempt_id))
        rows = db.execute("SELECT name, definition FROM annotation_samples").fetchall()
    return {str(n): (str(d), tuple(items.get(str(n), ()))) for n, d in rows}


def _shard_tag(shard: str | None, index: int) -> str:
    if shard is None:  # a run made unsharded: named by its place on the command line
        return f"run-{index + 1}"
    number, _, count = shard.partition("/")
    return f"shard-{number}-of-{count}"
