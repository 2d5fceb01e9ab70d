"""The run store: a SQLite database (WAL) with one row per attempt and one per grade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness._errors import RunStoreError
from harness.core import (
    ROLES,
    AttackStep,
    AttemptRecord,
    GradeRecord,
    Label,
    RequestRecord,
    Status,
)
from harness.store._scrub import Scrubber

if TYPE_CHECKING:  # pandas and pyarrow load only for reads: `harness run` starts faster
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "ATTEMPT_COLUMNS",
    "CELL_BLOCK",
    "CELL_ORDER",
    "DB_NAME",
    "REPORT_COLUMNS",
    "SCHEMA_VERSION",
    "RunStore",
    "Snapshot",
]

DB_NAME = "store.sqlite"
SCHEMA_VERSION = 1
ATTEMPT_COLUMNS = [f.name for f in fields(AttemptRecord)]
GRADE_COLUMNS = [f.name for f in fields(GradeRecord)]
REQUEST_COLUMNS = [f.name for f in fields(RequestRecord)]
# dataclasses.astuple deep-copies every field: too slow on the hot path
_attempt_row = attrgetter(*ATTEMPT_COLUMNS)
_grade_row = attrgetter(*GRADE_COLUMNS)
_request_row = attrgetter(*REQUEST_COLUMNS)
_ROLES = ", ".join(f"'{r}'" for r in ROLES)
_STATUSES = ", ".join(f"'{s}'" for s in Status)
# What a report reads of each attempt: the covering index below holds exactly these, so a
# report scans it (~200 bytes an attempt) and never the rows with whole conversations. Its
# order makes each configuration × attack × suite one contiguous block of the scan.
CELL_BLOCK = ("configuration", "model", "deployment", "attack", "suite")
CELL_ORDER = (*CELL_BLOCK, "item_id", "sample_index")
REPORT_COLUMNS = (
    *CELL_ORDER,
    "category",
    "harmful",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "executed_target",
    "attempt_id",
)
_LABELS = ", ".join(f"'{label}'" for label in Label)
_LOCK_WAIT_S = 300.0

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
    item_meta TEXT, executed_target INTEGER, attack_trace TEXT,
    UNIQUE (configuration, suite, item_id, attack, sample_index)
);
CREATE TABLE IF NOT EXISTS grades (
    attempt_id TEXT NOT NULL REFERENCES attempts (attempt_id),
    grader TEXT NOT NULL, label TEXT NOT NULL CHECK (label IN ({_LABELS})),
    score REAL, rationale TEXT, raw TEXT, error TEXT, graded_at TEXT NOT NULL,
    grade_hash TEXT,
    PRIMARY KEY (attempt_id, grader)
);
DROP INDEX IF EXISTS attempts_by_configuration;
CREATE TABLE IF NOT EXISTS attack_steps (
    attempt_id TEXT NOT NULL, request_hash TEXT NOT NULL, key TEXT NOT NULL,
    role TEXT NOT NULL, answer TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (attempt_id, request_hash, key)
);
"""
# attack_steps: each answer an adaptive attack's search received (attacker, judge, target),
# stored as it comes, so that a search interrupted mid-way is resumed from them without
# sending them again; keyed by the request hash, so a changed attack starts afresh
# every request sent (model, guard, judge), so that a resumed run and `harness grade` count
# what was already spent, and reports show cost per configuration and per role
REQUESTS_SCHEMA = f"""
CREATE TABLE requests (
    model TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ({_ROLES})),
    configuration TEXT, attack TEXT, attempt_id TEXT, tries INTEGER NOT NULL,
    prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, finished_at TEXT NOT NULL
);
"""
# a store written before requests were logged: its attempts' own tries and tokens, as the
# target requests of their configuration (what guards and judges spent then is unknown)
_LEGACY_REQUESTS = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    "SELECT model, 'target', configuration, attack, NULL, SUM(tries), SUM(prompt_tokens), "
    "SUM(completion_tokens), NULL, MAX(COALESCE(finished_at, '')) FROM attempts "
    "GROUP BY model, configuration, attack"
)
# The indexes reports read from. Kept up to date row by row they would double what a run's
# write costs (~110 us an attempt instead of ~50); built in bulk they cost ~5 us an attempt.
# So a run builds them when it ends and a read builds whatever is missing.
READ_INDEXES = {
    "attempts_for_reports": f"ON attempts ({', '.join(REPORT_COLUMNS)})",
    # attempts stored before executed_target was: their targets are matched when read
    "attempts_unmatched_targets": (
        "ON attempts (attempt_id) WHERE targets IS NOT NULL AND executed_target IS NULL"
    ),
    "grades_labels": "ON grades (attempt_id, grader, label)",
}

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
_INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in REQUEST_COLUMNS)})"
)
_INSERT_STEP = (
    "INSERT OR REPLACE INTO attack_steps (attempt_id, request_hash, key, role, answer, "
    "recorded_at) VALUES (?, ?, ?, ?, ?, ?)"
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
        self._scrubber = Scrubber(secrets)
        # a long wait for the lock: another process may be building the read indexes
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=_LOCK_WAIT_S
        )
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
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(attempts)")}
        if "executed_target" not in columns:  # a store written before the column existed
            self._db.execute("ALTER TABLE attempts ADD COLUMN executed_target INTEGER")
        if "attack_trace" not in columns:  # a store written before adaptive attacks
            self._db.execute("ALTER TABLE attempts ADD COLUMN attack_trace TEXT")
        grade_columns = {r[1] for r in self._db.execute("PRAGMA table_info(grades)")}
        if "grade_hash" not in grade_columns:
            self._db.execute("ALTER TABLE grades ADD COLUMN grade_hash TEXT")
        with self._transaction():
            tables = {
                str(r[0])
                for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if "requests" not in tables:
                self._db.execute(REQUESTS_SCHEMA)
                self._db.execute(_LEGACY_REQUESTS)
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
        self,
        attempts: Sequence[AttemptRecord],
        grades: Sequence[GradeRecord] = (),
        requests: Sequence[RequestRecord] = (),
    ) -> None:
        """Attempts and their grades in one transaction: never an attempt without its grades.
        The requests sent meanwhile (for these attempts or others) go in the same one.

        An attempt already stored is replaced only if it was an ERROR or its request changed;
        a replaced attempt's old grades go with it.
        """
        if not attempts and not grades and not requests:
            return
        with self._transaction():
            self._db.executemany(_INSERT_REQUEST, [_request_row(r) for r in requests])
            self._db.executemany(
                _DELETE_STALE_GRADES, [(a.attempt_id, a.request_hash) for a in attempts]
            )
            scrub = self._scrubber
            attempt_rows = [_attempt_row(scrub.attempt(a)) for a in attempts]
            self._db.executemany(_UPSERT_ATTEMPT, attempt_rows)
            self._db.executemany(_UPSERT_GRADE, [_grade_row(scrub.grade(g)) for g in grades])

    def write_step(self, step: AttackStep, requests: Sequence[RequestRecord] = ()) -> None:
        """One step of an adaptive attack's search, with the requests sent meanwhile, in one
        transaction: a step stored is never sent again, and what it cost is never forgotten."""
        with self._transaction():
            self._db.executemany(_INSERT_REQUEST, [_request_row(r) for r in requests])
            self._db.execute(
                _INSERT_STEP,
                (
                    step.attempt_id,
                    step.request_hash,
                    step.key,
                    step.role,
                    self._scrubber.text(step.answer),
                    step.recorded_at,
                ),
            )

    def attack_steps(self, attempt_id: str, request_hash: str) -> dict[str, str]:
        """key → answer (JSON) of every stored step of the attempt's search as now requested."""
        rows = self._db.execute(
            "SELECT key, answer FROM attack_steps WHERE attempt_id = ? AND request_hash = ?",
            (attempt_id, request_hash),
        ).fetchall()
        return {str(k): str(a) for k, a in rows}

    def scrub(self, text: str) -> str:
        """A text where a secret can enter (an error, a log line) with every secret masked."""
        return self._scrubber.text(text)

    # -- reading ---------------------------------------------------------------------------
    def finished_requests(self, *, include_errors: bool) -> dict[str, str]:
        """attempt_id → request_hash of every stored attempt that need not be sent again."""
        query = "SELECT attempt_id, request_hash FROM attempts"
        if not include_errors:
            query += " WHERE status != 'ERROR'"
        return dict(self._db.execute(query).fetchall())

    def spending(self) -> list[tuple[str, int, int, int]]:
        """Per model: requests sent (tries), prompt tokens and completion tokens, over every
        request stored (model, guard and judge calls of every run of this directory)."""
        rows = self._db.execute(
            "SELECT model, SUM(tries), SUM(COALESCE(prompt_tokens, 0)), "
            "SUM(COALESCE(completion_tokens, 0)) FROM requests GROUP BY model ORDER BY model"
        ).fetchall()
        return [(str(m), int(t), int(p), int(c)) for m, t, p, c in rows]

    def spending_by_cell(self) -> list[tuple[str | None, str | None, str, str, int, int, int]]:
        """(configuration, attack, role, model, tries, prompt tokens, completion tokens)."""
        rows = self._db.execute(
            "SELECT configuration, attack, role, model, SUM(tries), "
            "SUM(COALESCE(prompt_tokens, 0)), SUM(COALESCE(completion_tokens, 0)) "
            "FROM requests GROUP BY configuration, attack, role, model"
        ).fetchall()
        return [(c, a, str(r), str(m), int(t), int(p), int(o)) for c, a, r, m, t, p, o in rows]

    def attempts_to_grade(
        self, grader: str, fingerprint: str, *, unknown_is_stale: bool
    ) -> Iterator[AttemptRecord]:
        """OK attempts without a grade of `grader` made with `fingerprint`: none, or one made
        by the grader before it changed. A grade stored before fingerprints were kept (NULL)
        counts as stale only with `unknown_is_stale`."""
        unknown = "" if unknown_is_stale else " OR g.grade_hash IS NULL"
        cursor = self._db.execute(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts a WHERE a.status = 'OK' "
            "AND NOT EXISTS (SELECT 1 FROM grades g WHERE g.attempt_id = a.attempt_id "
            f"AND g.grader = ? AND (g.grade_hash = ?{unknown})) ORDER BY a.rowid",
            (grader, fingerprint),
        )
        while rows := cursor.fetchmany(1000):
            for row in rows:
                yield _attempt(row)

    def count_attempts(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])

    def iter_attempts(self, *, batch: int = 1000) -> Iterator[AttemptRecord]:
        cursor = self._db.execute(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts ORDER BY rowid"
        )
        while rows := cursor.fetchmany(batch):
            for row in rows:
                yield _attempt(row)

    def made_tool_calls(self, configuration: str) -> bool:
        """Whether any attempt of the configuration called a tool (stops at the first)."""
        row = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM attempts WHERE configuration = ? "
            "AND tool_calls IS NOT NULL)",
            (configuration,),
        ).fetchone()
        return bool(row[0])

    def answered(self, configuration: str) -> int:
        """Attempts of the configuration that the model answered (OK or BLOCKED_OUTPUT)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM attempts WHERE configuration = ? "
            "AND status IN ('OK', 'BLOCKED_OUTPUT')",
            (configuration,),
        ).fetchone()
        return int(row[0])

    def same_prompt_tokens(self, a: str, b: str) -> int:
        """On how many (item, attack, sample) two configurations reported the same non-zero
        prompt tokens over the same number of model calls; 0 as soon as one pair differs."""
        pairs = (
            "FROM attempts a JOIN attempts b ON b.configuration = ? AND b.suite = a.suite "
            "AND b.item_id = a.item_id AND b.attack = a.attack "
            "AND b.sample_index = a.sample_index "
            "WHERE a.configuration = ? AND a.prompt_tokens > 0 AND b.prompt_tokens > 0 "
            "AND a.model_calls = b.model_calls"
        )
        differ = self._db.execute(
            f"SELECT 1 {pairs} AND a.prompt_tokens != b.prompt_tokens LIMIT 1", (b, a)
        ).fetchone()
        if differ is not None:
            return 0
        return int(self._db.execute(f"SELECT COUNT(*) {pairs}", (b, a)).fetchone()[0])

    def graders(self) -> list[str]:
        return [
            r[0] for r in self._db.execute("SELECT DISTINCT grader FROM grades ORDER BY grader")
        ]

    def attempts_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        with self.snapshot() as snapshot:
            frame: pd.DataFrame = snapshot.attempts(columns or ATTEMPT_COLUMNS).to_pandas()
        if "harmful" in frame:
            frame["harmful"] = frame["harmful"].map({1: True, 0: False}).astype("boolean")
        return frame

    def grades_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        with self.snapshot() as snapshot:
            frame: pd.DataFrame = snapshot.grades(columns or GRADE_COLUMNS).to_pandas()
        return frame

    def build_read_indexes(self) -> None:
        """Create the indexes reports read from, where they are missing (all at once)."""
        existing = {
            str(r[0])
            for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        missing = [name for name in READ_INDEXES if name not in existing]
        if missing:
            with self._transaction():
                for name in missing:
                    self._db.execute(f"CREATE INDEX IF NOT EXISTS {name} {READ_INDEXES[name]}")

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """Reads as Arrow tables, every one from the same state of the store."""
        import adbc_driver_sqlite.dbapi as adbc

        self.build_read_indexes()
        types = {table: self._declared_types(table) for table in ("attempts", "grades")}
        # Read-only: the driver links its own copy of SQLite, which cannot see this process's
        # connections (POSIX locks are per process); a read-write connection closing as the
        # "last" one would checkpoint and delete the WAL under `self._db`. Not autocommit: one
        # read transaction, so a run writing meanwhile is seen as of now.
        with adbc.connect(self.path.resolve().as_uri() + "?mode=ro") as connection:
            try:
                yield Snapshot(connection, types)
            finally:
                connection.rollback()

    def _declared_types(self, table: str) -> dict[str, str]:
        rows = self._db.execute(f"PRAGMA table_info({table})").fetchall()
        return {str(r[1]): str(r[2]).upper() for r in rows}

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


class Snapshot:
    """Queries of one read transaction, answered as Arrow tables by the ADBC SQLite driver.

    The driver turns rows into Arrow columns in C, 3-4x faster than Python tuples. It infers
    each column's type from its first batch (an all-NULL batch reads as int64 and the next
    batch fails): every query is one batch, as large as the table can be in this snapshot. Numeric
    columns are CAST to their declared type (a REAL in an INTEGER column would not fit);
    TEXT affinity already stores every value of a TEXT column as text.
    """

    def __init__(self, connection: Any, types: dict[str, dict[str, str]]) -> None:
        self._connection = connection
        self._types = types

    def attempts(
        self,
        columns: Sequence[str],
        *,
        order: Literal["rowid", "cells"] = "rowid",
        unmatched_targets: bool = False,
    ) -> pa.Table:
        """`order="cells"`: in CELL_ORDER, from the report index when it holds the columns;
        `unmatched_targets`: only the attempts with targets but no executed_target yet."""
        where = (
            " WHERE targets IS NOT NULL AND executed_target IS NULL" if unmatched_targets else ""
        )
        # those: in the partial index's order (by rowid would scan the whole table)
        ordering = (
            CELL_ORDER if order == "cells" else ("attempt_id",) if unmatched_targets else ("rowid",)
        )
        return self._query("attempts", columns, where, ordering)

    def cell_blocks(self) -> pa.Table:
        """CELL_BLOCK and the number of attempts `n` of each block, in CELL_ORDER: the runs
        of identical names in `attempts(..., order="cells")`, which need not read them."""
        keys = ", ".join(f"attempts.{c}" for c in CELL_BLOCK)
        names = ", ".join(f"{c} AS {c}" for c in CELL_BLOCK)
        sql = f"SELECT {names}, COUNT(*) AS n FROM attempts GROUP BY {keys} ORDER BY {keys}"
        return self._fetch(sql, None)  # a few rows, none of them NULL

    def labels(self) -> pa.Table:
        """Every grade as (attempt_rowid, grader, label): the rowid of its attempt, joined
        here, in the label index's order, so that a reader can place the labels beside rows
        read with `rowid` without hashing attempt ids (2M ids: most of a second)."""
        sql = (
            "SELECT a.rowid AS attempt_rowid, g.grader AS grader, g.label AS label "
            # without ANALYZE statistics the planner takes the primary key, which does not
            # hold the label: 2M lookups into the table, 5x slower
            "FROM grades g INDEXED BY grades_labels JOIN attempts a ON a.attempt_id = g.attempt_id "
            "ORDER BY g.attempt_id, g.grader"
        )
        return self._fetch(sql, self._row_bound("grades"))

    def grades(self, columns: Sequence[str]) -> pa.Table:
        return self._query("grades", columns, "", ("rowid",))

    def _query(
        self, table: str, columns: Sequence[str], where: str, ordering: Sequence[str]
    ) -> pa.Table:
        import pyarrow as pa

        declared = {**self._types[table], "rowid": "INTEGER"}
        unknown = [c for c in columns if c not in declared]
        if unknown:
            raise ValueError(f"no column {', '.join(unknown)} in {table}")
        selected = ", ".join(
            f"CAST({c} AS {declared[c]}) AS {c}" if declared[c] != "TEXT" else c for c in columns
        )
        # qualified: a bare name would sort by the CAST alias, and no index holds that order
        by = ", ".join(f"{table}.{c}" for c in ordering)
        result = self._fetch(
            f"SELECT {selected} FROM {table}{where} ORDER BY {by}", self._row_bound(table)
        )
        arrow = {"TEXT": pa.string(), "INTEGER": pa.int64(), "REAL": pa.float64()}
        return pa.table(
            {c: result.column(c).cast(arrow.get(declared[c], pa.string())) for c in columns}
        )

    def _row_bound(self, table: str) -> int:
        """At least as many as the rows of `table`: its largest rowid, read from the edge of
        its b-tree (a COUNT(*) would scan an index: 0.1 s a million rows)."""
        with self._connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(rowid) FROM {table}")
            largest = cursor.fetchone()[0]
        return min(int(largest or 0), 2**31 - 2)

    def _fetch(self, sql: str, rows: int | None) -> pa.Table:
        with self._connection.cursor() as cursor:
            if rows is not None:
                batch = str(rows + 1)
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": batch})
            cursor.execute(sql)
            return cursor.fetch_arrow_table()


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
