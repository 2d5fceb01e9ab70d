"""Human labels in the run store: samples, raters, an audit log, and the labels as grades.

A label is a row of `grades` (rater `human.<annotator>` or `adjudicated`, the note as its
rationale, the time as `graded_at`), written with its log entry in one transaction, committed
before the page hears back: closing the page or killing the server loses nothing. Several
annotators, each with their own server process or sharing one, write through SQLite's lock
(WAL, BEGIN IMMEDIATE, a long busy timeout), so they never clash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.grading import Label
from harness.store import DB_NAME, RunStore, now_iso

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ADJUDICATED",
    "HUMAN_PREFIX",
    "LABELS",
    "AnnotationStore",
    "SampleDefinition",
    "annotation_raters",
    "rater_of",
]

HUMAN_PREFIX = "human."
ADJUDICATED = "adjudicated"
# what a person may answer: the taxonomy without UNPARSEABLE (a person skips instead)
LABELS = tuple(label.value for label in Label if label is not Label.UNPARSEABLE)
RaterKind = Literal["human", "adjudicated"]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS annotation_samples (
    name TEXT PRIMARY KEY, definition TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS annotation_items (
    sample TEXT NOT NULL REFERENCES annotation_samples (name),
    position INTEGER NOT NULL,
    attempt_id TEXT NOT NULL REFERENCES attempts (attempt_id),
    PRIMARY KEY (sample, attempt_id)
);
CREATE TABLE IF NOT EXISTS annotation_raters (
    rater TEXT PRIMARY KEY, annotator TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'adjudicated')), created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS annotation_log (
    id INTEGER PRIMARY KEY, sample TEXT NOT NULL, rater TEXT NOT NULL, annotator TEXT NOT NULL,
    attempt_id TEXT NOT NULL, action TEXT NOT NULL CHECK (action IN ('label', 'skip')),
    label TEXT CHECK (label IS NULL OR label IN ({", ".join(f"'{x}'" for x in LABELS)})),
    note TEXT, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotation_log_by_rater ON annotation_log (rater, attempt_id);
"""
_LOCK_WAIT_S = 60.0


def rater_of(annotator: str, *, adjudicating: bool = False) -> str:
    return ADJUDICATED if adjudicating else HUMAN_PREFIX + annotator


@dataclass(frozen=True)
class SampleDefinition:
    """How a sample was drawn: stored with it, so every annotator gets the same items."""

    name: str
    size: int | None  # None: every gradable attempt of the run
    seed: int
    stratify_by: tuple[str, ...]
    label_grader: str | None  # whose label `label` stratifies by
    strata: dict[str, int]  # stratum -> attempts drawn from it

    def as_json(self) -> str:
        return json.dumps(
            {
                "size": self.size,
                "seed": self.seed,
                "stratify_by": list(self.stratify_by),
                "label_grader": self.label_grader,
                "strata": self.strata,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, name: str, text: str) -> SampleDefinition:
        data = json.loads(text)
        return cls(
            name=name,
            size=data["size"],
            seed=int(data["seed"]),
            stratify_by=tuple(data["stratify_by"]),
            label_grader=data["label_grader"],
            strata={str(k): int(v) for k, v in data["strata"].items()},
        )


@dataclass(frozen=True)
class Given:
    """One rater's current label of one attempt."""

    rater: str
    label: str
    note: str | None
    at: str


def annotation_raters(run_dir: Path) -> dict[str, RaterKind]:
    """Raters written by `harness annotate` in this run (none if it was never annotated)."""
    with closing(sqlite3.connect(run_dir / DB_NAME, timeout=_LOCK_WAIT_S)) as db:
        annotated = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'annotation_raters'"
        ).fetchone()
        if not annotated:
            return {}
        rows = db.execute("SELECT rater, kind FROM annotation_raters ORDER BY rater").fetchall()
    return {str(r): "adjudicated" if k == "adjudicated" else "human" for r, k in rows}


class AnnotationStore:
    """The annotation tables of one run's store, on a connection of their own."""

    def __init__(self, run_dir: Path) -> None:
        # RunStore checks the directory is a run (a UserError if not) and migrates its schema
        RunStore(run_dir).close()
        self.run_dir = run_dir
        self._db = sqlite3.connect(
            run_dir / DB_NAME, isolation_level=None, check_same_thread=False, timeout=_LOCK_WAIT_S
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # a human label costs a minute of someone's attention: worth an fsync each
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)  # idempotent: every statement is IF NOT EXISTS

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        import pandas as pd

        with self._lock:
            return pd.read_sql_query(sql, self._db, params=tuple(params))

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- samples -----------------------------------------------------------------------------
    def samples(self) -> list[SampleDefinition]:
        rows = self._read("SELECT name, definition FROM annotation_samples ORDER BY created_at")
        return [SampleDefinition.from_json(str(n), str(d)) for n, d in rows]

    def sample_items(self, name: str) -> list[str]:
        rows = self._read(
            "SELECT attempt_id FROM annotation_items WHERE sample = ? ORDER BY position", (name,)
        )
        return [str(r[0]) for r in rows]

    def save_sample(self, definition: SampleDefinition, attempt_ids: Sequence[str]) -> bool:
        """Store a sample unless one of that name exists (then the stored one stands: an
        annotator who starts later must get the items the first one got). True if written."""
        with self._transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM annotation_samples WHERE name = ?", (definition.name,)
            ).fetchone()
            if exists:
                return False
            db.execute(
                "INSERT INTO annotation_samples VALUES (?, ?, ?)",
                (definition.name, definition.as_json(), now_iso()),
            )
            db.executemany(
                "INSERT INTO annotation_items VALUES (?, ?, ?)",
                [(definition.name, i, a) for i, a in enumerate(attempt_ids)],
            )
        return True

    # -- labels ------------------------------------------------------------------------------
    def record(
        self,
        *,
        sample: str,
        annotator: str,
        attempt_id: str,
        label: str | None,
        note: str | None,
        adjudicating: bool = False,
        context: dict[str, Any] | None = None,
    ) -> str:
        """A label (or a skip, `label=None`) with its log entry, committed before returning."""
        if label is not None and label not in LABELS:
            raise ValueError(f"not a label: {label!r}")
        rater = rater_of(annotator, adjudicating=adjudicating)
        at = now_iso()
        note = (note or "").strip() or None
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO annotation_raters VALUES (?, ?, ?, ?)",
                (rater, annotator, "adjudicated" if adjudicating else "human", at),
            )
            db.execute(
                "INSERT INTO annotation_log (sample, rater, annotator, attempt_id, action, label,"
                " note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sample,
                    rater,
                    annotator,
                    attempt_id,
                    "skip" if label is None else "label",
                    label,
                    note,
                    at,
                ),
            )
            if label is not None:
                raw = json.dumps({"annotator": annotator, "sample": sample, **(context or {})})
                db.execute(
                    "INSERT OR REPLACE INTO grades (attempt_id, grader, label, score, rationale,"
                    " raw, error, graded_at) VALUES (?, ?, ?, NULL, ?, ?, NULL, ?)",
                    (attempt_id, rater, label, note, raw, at),
                )
        return at

    def given(self, rater: str, attempt_ids: Sequence[str]) -> dict[str, Given]:
        """The rater's current label of each of these attempts that it labelled."""
        rows = self._read(
            "SELECT attempt_id, label, rationale, graded_at FROM grades WHERE grader = ?",
            (rater,),
        )
        wanted = set(attempt_ids)
        return {
            str(a): Given(rater, str(label), note, str(at))
            for a, label, note, at in rows
            if a in wanted
        }

    def skipped(self, rater: str, sample: str) -> set[str]:
        """Attempts whose last action by this rater in this sample was a skip."""
        rows = self._read(
            "SELECT attempt_id, action FROM annotation_log WHERE rater = ? AND sample = ? "
            "ORDER BY id",
            (rater, sample),
        )
        last: dict[str, str] = {}
        for attempt_id, action in rows:
            last[str(attempt_id)] = str(action)
        return {a for a, action in last.items() if action == "skip"}

    def progress(self, sample: str, attempt_ids: Sequence[str]) -> list[tuple[str, int, int]]:
        """Per rater that worked on this sample: attempts labelled, attempts left skipped."""
        raters = [
            r[0]
            for r in self._read(
                "SELECT DISTINCT rater FROM annotation_log WHERE sample = ? ORDER BY rater",
                (sample,),
            )
        ]
        found = []
        for rater in map(str, raters):
            labelled = self.given(rater, attempt_ids)
            found.append((rater, len(labelled), len(self.skipped(rater, sample) - set(labelled))))
        return found

    def human_labels(self, attempt_ids: Sequence[str]) -> dict[str, list[Given]]:
        """Every annotator's label of each attempt (humans, not the adjudicated rater)."""
        rows = self._read(
            "SELECT g.attempt_id, g.grader, g.label, g.rationale, g.graded_at FROM grades g "
            "JOIN annotation_raters r ON r.rater = g.grader WHERE r.kind = 'human' "
            "ORDER BY g.grader"
        )
        wanted = set(attempt_ids)
        found: dict[str, list[Given]] = {}
        for attempt_id, rater, label, note, at in rows:
            if attempt_id in wanted:
                found.setdefault(str(attempt_id), []).append(
                    Given(str(rater), str(label), note, str(at))
                )
        return found

    def grader_labels(self, attempt_id: str) -> dict[str, str]:
        """Every rater's label of one attempt (for the page's reveal mode)."""
        rows = self._read(
            "SELECT grader, label FROM grades WHERE attempt_id = ? ORDER BY grader", (attempt_id,)
        )
        return {str(g): str(label) for g, label in rows}

    def attempt(self, attempt_id: str) -> dict[str, Any] | None:
        columns = (
            "attempt_id, configuration, model, deployment, suite, item_id, category, harmful, "
            "attack, sample_index, prompt, messages, response, tool_calls, status, finish_reason"
        )
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {columns} FROM attempts WHERE attempt_id = ?", (attempt_id,)
            )
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return None if row is None else dict(zip(names, row, strict=True))
