"""The run store: a SQLite database (WAL) with one row per attempt and one per grade."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from harness._errors import RunStoreError
from harness.grading._types import Label
from harness.store._records import AttemptRecord, GradeRecord, Status

__all__ = ["DB_NAME", "SCHEMA_VERSION", "RunStore"]

DB_NAME = "store.sqlite"
SCHEMA_VERSION = 1
ATTEMPT_COLUMNS = [f.name for f in fields(AttemptRecord)]
GRADE_COLUMNS = [f.name for f in fields(GradeRecord)]
# dataclasses.astuple deep-copies every field: too slow on the hot path
_attempt_row = attrgetter(*ATTEMPT_COLUMNS)
_grade_row = attrgetter(*GRADE_COLUMNS)
_STATUSES = ", ".join(f"'{s}'" for s in Status)
# Frames read from the store: Arrow buffers from malloc, which gives freed memory back to the
# system; the default pool (mimalloc) keeps it, and a frame's RSS grows by ~1.5x.
_POOL = pa.system_memory_pool()
# Columns up to this size are made contiguous (the keys reports group and join on); larger ones
# (whole conversations) stay in chunks: a copy would double them at the peak.
_CONTIGUOUS_BYTES = 128 << 20
_LABELS = ", ".join(f"'{label}'" for label in Label)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id TEXT PRIMARY KEY,
    configuration TEXT NOT NULL, model TEXT NOT NULL, deployment TEXT NOT NULL,
    suite TEXT NOT NULL, item_id TEXT NOT NULL, category TEXT, harmful INTEGER,
    attack TEXT NOT NULL, sample_index INTEGER NOT NULL, request_hash TEXT NOT NULL,
    prompt TEXT NOT NULL, messages TEXT NOT NULL, response TEXT, raw_response TEXT,
    tool_calls TEXT, targets TEXT, guard_events TEXT, model_calls INTEGER NOT NULL,
    finish_reason TEXT, status TEXT NOT NULL CHECK (status IN ({_STATUSES})),
    error TEXT, error_kind TEXT, tries INTEGER NOT NULL, latency_s REAL,
    prompt_tokens INTEGER, completion_tokens INTEGER, started_at TEXT, finished_at TEXT,
    item_meta TEXT,
    UNIQUE (configuration, suite, item_id, attack, sample_index)
);
CREATE TABLE IF NOT EXISTS grades (
    attempt_id TEXT NOT NULL REFERENCES attempts (attempt_id),
    grader TEXT NOT NULL, label TEXT NOT NULL CHECK (label IN ({_LABELS})),
    score REAL, rationale TEXT, raw TEXT, error TEXT, graded_at TEXT NOT NULL,
    PRIMARY KEY (attempt_id, grader)
);
CREATE INDEX IF NOT EXISTS attempts_by_configuration ON attempts (configuration, status);
"""

# A finished attempt is never re-sent, except an ERROR one when the caller asks to retry errors.
_UPSERT_ATTEMPT = (
    f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ATTEMPT_COLUMNS)}) "
    "ON CONFLICT (attempt_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ATTEMPT_COLUMNS if c != "attempt_id")
    + " WHERE attempts.status = 'ERROR' OR attempts.request_hash != excluded.request_hash"
)
_DELETE_STALE_GRADES = (
    "DELETE FROM grades WHERE attempt_id IN (SELECT attempt_id FROM attempts "
    "WHERE attempt_id = ? AND (status = 'ERROR' OR request_hash != ?))"
)
_UPSERT_GRADE = (
    f"INSERT OR REPLACE INTO grades ({', '.join(GRADE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in GRADE_COLUMNS)})"
)


class RunStore:
    """One run's database. Writes are batched by the caller; each batch is one transaction."""

    def __init__(
        self, directory: Path, *, create: bool = False, secrets: Iterable[str] = ()
    ) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        if not create and not self.path.is_file():
            raise RunStoreError(
                "no run store here",
                file=directory,
                fix="pass a run directory written by `harness run` or `harness import`",
            )
        directory.mkdir(parents=True, exist_ok=True)
        # Secrets are scrubbed from every text written, whatever produced it.
        self._secrets = [s for s in secrets if s]
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._init_schema()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _init_schema(self) -> None:
        self._db.executescript(SCHEMA)  # idempotent: every statement is IF NOT EXISTS
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise RunStoreError(
                    f"store schema version {row[0]} is not supported (this harness reads "
                    f"{SCHEMA_VERSION})",
                    file=self.path,
                    fix="use the harness version that wrote it, or re-run into a new directory",
                )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- writing ---------------------------------------------------------------------------
    def write_batch(
        self, attempts: Sequence[AttemptRecord], grades: Sequence[GradeRecord] = ()
    ) -> None:
        """Attempts and their grades in one transaction: never an attempt without its grades.

        An attempt already stored is replaced only if it was an ERROR or its request changed;
        a replaced attempt's old grades go with it.
        """
        if not attempts and not grades:
            return
        with self._transaction():
            self._db.executemany(
                _DELETE_STALE_GRADES, [(a.attempt_id, a.request_hash) for a in attempts]
            )
            attempt_rows = [self._scrub_row(_attempt_row(a)) for a in attempts]
            self._db.executemany(_UPSERT_ATTEMPT, attempt_rows)
            self._db.executemany(_UPSERT_GRADE, [self._scrub_row(_grade_row(g)) for g in grades])

    def _scrub_row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._secrets:
            return row
        return tuple(self.scrub(v) if isinstance(v, str) else v for v in row)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- reading ---------------------------------------------------------------------------
    def finished_requests(self, *, include_errors: bool) -> dict[str, str]:
        """attempt_id → request_hash of every stored attempt that need not be sent again."""
        query = "SELECT attempt_id, request_hash FROM attempts"
        if not include_errors:
            query += " WHERE status != 'ERROR'"
        return dict(self._db.execute(query).fetchall())

    def spending(self) -> list[tuple[str, int, int, int]]:
        """Per model: requests sent (tries), prompt tokens and completion tokens stored."""
        rows = self._db.execute(
            "SELECT model, SUM(tries), SUM(COALESCE(prompt_tokens, 0)), "
            "SUM(COALESCE(completion_tokens, 0)) FROM attempts GROUP BY model"
        ).fetchall()
        return [(str(m), int(t), int(p), int(c)) for m, t, p, c in rows]

    def count_attempts(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])

    def iter_attempts(self, *, batch: int = 1000) -> Iterator[AttemptRecord]:
        cursor = self._db.execute(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts ORDER BY rowid"
        )
        while rows := cursor.fetchmany(batch):
            for row in rows:
                yield _attempt(row)

    def graders(self) -> list[str]:
        return [
            r[0] for r in self._db.execute("SELECT DISTINCT grader FROM grades ORDER BY grader")
        ]

    def attempts_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        wanted = ", ".join(columns or ATTEMPT_COLUMNS)
        frame = _read_frame(self._db, f"SELECT {wanted} FROM attempts ORDER BY rowid")
        if "harmful" in frame:
            frame["harmful"] = frame["harmful"].map({1: True, 0: False}).astype("boolean")
        return frame

    def grades_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        wanted = ", ".join(columns or GRADE_COLUMNS)
        return _read_frame(self._db, f"SELECT {wanted} FROM grades ORDER BY rowid")

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def _read_frame(db: sqlite3.Connection, query: str, *, chunk: int = 8192) -> pd.DataFrame:
    """The query's rows as a frame, with the dtypes pandas.read_sql_query gives them.

    read_sql_query holds every row as a tuple of Python objects, then a 2-D object array,
    then the typed columns, all at once: about 3x the frame at its peak (1 GB for 1M
    attempts). Here each chunk of rows becomes one compact Arrow array per column at once,
    so only one chunk of Python objects is alive at a time.
    """
    cursor = db.execute(query)
    names = [d[0] for d in cursor.description]
    parts: list[list[Any]] = [[] for _ in names]
    with _no_cyclic_gc():
        while rows := cursor.fetchmany(chunk):
            for part, values in zip(parts, zip(*rows, strict=True), strict=True):
                part.append(_arrow_or_objects(values))
            del rows
    columns = {}
    for name, part in zip(names, parts, strict=True):
        columns[name] = _column(part)
        part.clear()  # its chunks, now copied into one array
    return pd.DataFrame(columns, columns=names)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Millions of short-lived row tuples set off the cyclic collector over and over (about
    half the time of a 1M-row read); they form no cycles, refcounting frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _arrow_or_objects(values: Sequence[Any]) -> Any:
    try:
        return pa.array(values, memory_pool=_POOL)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return list(values)  # mixed types in one column: left to pandas, as read_sql_query does


def _column(chunks: list[Any]) -> pd.Series[Any]:
    """One column from its chunks: a type found in any chunk holds for all of them."""
    arrays = [c for c in chunks if isinstance(c, pa.Array)]
    types = {a.type for a in arrays} - {pa.null()}
    if types == {pa.int64(), pa.float64()}:
        types = {pa.float64()}  # integers and reals in one column, as pandas coerces them
    if len(arrays) == len(chunks) and len(types) <= 1:
        kind = types.pop() if types else pa.null()  # all NULL: a column of None, as pandas
        arrays = [a if a.type == kind else a.cast(kind) for a in arrays]
        if not arrays:
            return pd.Series(pa.array([], kind).to_pandas())
        if len(arrays) > 1 and sum(a.nbytes for a in arrays) <= _CONTIGUOUS_BYTES:
            # pandas pivots, joins and sorts faster on one contiguous array than on chunks
            return pd.Series(pa.concat_arrays(arrays, memory_pool=_POOL).to_pandas())
        return pd.Series(pa.chunked_array(arrays, kind).to_pandas())
    # types that do not mix (or no rows at all): left to pandas' own inference
    values = [v for c in chunks for v in (c.to_pylist() if isinstance(c, pa.Array) else c)]
    return pd.Series(pd.DataFrame.from_records([(v,) for v in values], columns=["v"])["v"])


def _attempt(row: Sequence[Any]) -> AttemptRecord:
    values = dict(zip(ATTEMPT_COLUMNS, row, strict=True))
    values["status"] = Status(values["status"])
    values["harmful"] = None if values["harmful"] is None else bool(values["harmful"])
    return AttemptRecord(**values)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error: one batch, one fsync."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
