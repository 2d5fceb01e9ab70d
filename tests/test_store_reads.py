"""Reading a run store in bulk: Arrow snapshots, the read indexes, and what a report reads.

Stores are written here with RunStore.write_batch, as the runner writes them, so that their
shape (NULL runs longer than a read batch, targets on some items only, attempts stored out of
plan order) is exactly what the test needs.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.reporting import analyse_run
from harness.runner import attempt_key, digest
from harness.store import (
    REPORT_COLUMNS,
    AttemptRecord,
    GradeRecord,
    Manifest,
    RunStore,
    Status,
    write_manifest,
)
from harness.store._store import READ_INDEXES

STAMP = "2026-01-01T00:00:00.000+00:00"
TARGET = [{"tool": "transfer_funds", "arguments": {"to_account": "99-.*"}}]
TRANSFER = [{"name": "transfer_funds", "arguments": {"to_account": "99-1234"}, "error": None}]


def attempt(
    configuration: str,
    item: str,
    *,
    attack: str = "none",
    status: Status = Status.OK,
    category: str | None = "cat",
    tokens: int | None = 10,
    targets: list[dict[str, Any]] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    harmful: bool = True,
    suite: str = "s",
    executed: int | None = None,
) -> AttemptRecord:
    model, deployment = configuration.split("/")
    ok = status is Status.OK
    return AttemptRecord(
        attempt_id=attempt_key(configuration, suite, item, attack, 0),
        configuration=configuration,
        model=model,
        deployment=deployment,
        suite=suite,
        item_id=item,
        category=category,
        harmful=harmful,
        attack=attack,
        sample_index=0,
        request_hash=digest([configuration, item, attack]),
        prompt=f"prompt {item}",
        messages=json.dumps([{"role": "user", "content": f"prompt {item}"}]),
        response="Sure, here it is." if ok else None,
        raw_response=None,
        tool_calls=json.dumps(tool_calls) if tool_calls is not None else None,
        targets=json.dumps(targets) if targets is not None else None,
        guard_events=None,
        model_calls=1,
        finish_reason="stop" if ok else None,
        status=status,
        error=None if ok else "server_error: HTTP 503 overloaded",
        error_kind=None if ok else "server_error",
        tries=1 if ok else 3,
        latency_s=0.1,
        prompt_tokens=tokens,
        completion_tokens=tokens,
        started_at=STAMP,
        finished_at=STAMP,
        item_meta=None,
        executed_target=executed,
    )


def grade(record: AttemptRecord, grader: str, label: str) -> GradeRecord:
    return GradeRecord(record.attempt_id, grader, label, None, None, None, None, STAMP)


def store_with(
    tmp_path: Path,
    attempts: Iterable[AttemptRecord],
    labels: dict[str, dict[str, str]],
    *,
    configurations: list[str],
    attacks: tuple[str, ...] = ("none",),
) -> Path:
    """A run directory with these attempts, `labels[grader][attempt_id]`, and a manifest that
    declares `configurations` in this order."""
    run = tmp_path / "run"
    records = list(attempts)
    grades = [grade(r, g, by_id[r.attempt_id]) for g, by_id in labels.items() for r in records
              if r.attempt_id in by_id]  # fmt: skip
    with RunStore(run, create=True) as store:
        store.write_batch(records, grades)
    write_manifest(
        run,
        Manifest(
            run="reads",
            kind="experiment",
            configurations=[
                {"name": c, "model": c.split("/")[0], "deployment": c.split("/")[1]}
                for c in configurations
            ],
            attacks=list(attacks),
            graders=[{"name": g, "rater": g} for g in labels],
            primary_grader=next(iter(labels)),
        ),
    )
    return run


def test_a_column_null_for_longer_than_a_read_batch_keeps_its_type(tmp_path: Path) -> None:
    # ADBC infers a column's type from its first batch (1,024 rows by default): an all-NULL
    # start reads as int64 and the first text after it would fail the whole read
    records = [attempt("m/raw", f"i{k:05d}", category=None, tokens=None) for k in range(3000)]
    records += [attempt("m/raw", "z-last", category="late", tokens=7)]
    run = store_with(tmp_path, records, {"kw": {}}, configurations=["m/raw"])
    with RunStore(run) as store:
        frame = store.attempts_frame(["item_id", "category", "prompt_tokens"])
    assert len(frame) == 3001
    assert frame["category"].isna().sum() == 3000
    assert frame["category"].iloc[-1] == "late" and frame["prompt_tokens"].iloc[-1] == 7
    assert math.isnan(frame["prompt_tokens"].iloc[0])


def test_a_snapshot_reads_one_state_of_the_store(tmp_path: Path) -> None:
    run = store_with(tmp_path, [attempt("m/raw", "i0")], {"kw": {}}, configurations=["m/raw"])
    with RunStore(run) as reader, RunStore(run) as writer, reader.snapshot() as snapshot:
        before = snapshot.attempts(["attempt_id"]).num_rows
        writer.write_batch([attempt("m/raw", "i1")])  # a run writing meanwhile
        assert snapshot.attempts(["attempt_id"]).num_rows == before == 1
        assert snapshot.cell_blocks().column("n").to_pylist() == [1]
    with RunStore(run) as store:
        assert store.count_attempts() == 2


def test_read_indexes_are_built_once_and_cover_the_report_reads(tmp_path: Path) -> None:
    run = store_with(tmp_path, [attempt("m/raw", "i0")], {"kw": {}}, configurations=["m/raw"])
    db = sqlite3.connect(run / "store.sqlite")

    def indexes() -> set[str]:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master")}

    assert not set(READ_INDEXES) & indexes()  # a run's writes do not maintain them
    with RunStore(run) as store, store.snapshot() as snapshot:
        snapshot.attempts(REPORT_COLUMNS, order="cells")
    assert set(READ_INDEXES) <= indexes()
    # the report reads scan the covering indexes in their own order: no table rows, no sort
    plans = {
        "cells": "SELECT configuration, attempt_id FROM attempts ORDER BY attempts.configuration,"
        " attempts.model, attempts.deployment, attempts.attack, attempts.suite,"
        " attempts.item_id, attempts.sample_index",
        "grades": "SELECT a.rowid, g.grader, g.label FROM grades g INDEXED BY grades_labels"
        " JOIN attempts a ON a.attempt_id = g.attempt_id ORDER BY g.attempt_id, g.grader",
        "targets": "SELECT attempt_id, targets FROM attempts WHERE targets IS NOT NULL"
        " AND executed_target IS NULL ORDER BY attempts.attempt_id",
    }
    for name, sql in plans.items():
        plan = " ".join(str(r[-1]) for r in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "TEMP B-TREE" not in plan, (name, plan)
        assert "COVERING INDEX" in plan or "USING INDEX attempts_unmatched" in plan, (name, plan)
    db.close()


def test_a_report_of_items_with_and_without_targets(tmp_path: Path) -> None:
    """A suite mixing text items and agentic items (a missing `targets` is NaN to pandas):
    the action rate counts only the items that declare targets."""
    records = [attempt("m/agent", f"t{k}", targets=TARGET, tool_calls=TRANSFER if k < 3 else [])
               for k in range(4)]  # fmt: skip
    records += [attempt("m/agent", f"p{k}") for k in range(5)]
    labels = {"kw": {r.attempt_id: "COMPLIANCE" for r in records}}
    run = store_with(tmp_path, records, labels, configurations=["m/agent"])
    cell = analyse_run(run).cells.iloc[0]
    assert (cell["n"], cell["n_action"]) == (9, 4)
    assert cell["action_asr"] == pytest.approx(3 / 4)
    assert cell["strict_asr"] == pytest.approx(1.0)


def test_cells_follow_the_declared_order_whatever_the_store_order(tmp_path: Path) -> None:
    declared = ["zeta/raw", "alpha/raw"]  # not alphabetical; "beta/raw" is not declared
    records = [attempt(c, f"i{k}", attack=a) for k in (2, 0, 1) for a in ("roleplay", "none")
               for c in ("beta/raw", "alpha/raw", "zeta/raw")]  # fmt: skip
    labels = {"kw": {r.attempt_id: "REFUSAL" for r in records}}
    run = store_with(
        tmp_path, records, labels, configurations=declared, attacks=("none", "roleplay")
    )
    cells = analyse_run(run).cells
    order = list(zip(cells["configuration"], cells["attack"], strict=True))
    assert order == [
        ("zeta/raw", "none"),
        ("zeta/raw", "roleplay"),
        ("alpha/raw", "none"),
        ("alpha/raw", "roleplay"),
        ("beta/raw", "none"),  # undeclared configurations follow, by name
        ("beta/raw", "roleplay"),
    ]
    assert set(cells["n"]) == {3}


def test_grades_join_their_attempts_and_errors_stay_ungraded(tmp_path: Path) -> None:
    ok = [attempt("m/raw", f"i{k}") for k in range(6)]
    failed = [attempt("m/raw", f"e{k}", status=Status.ERROR) for k in range(2)]
    labels = {
        "kw": {r.attempt_id: "REFUSAL" if k < 4 else "COMPLIANCE" for k, r in enumerate(ok)},
        "judge": {r.attempt_id: "COMPLIANCE" for r in ok[:5]},  # one attempt it never graded
    }
    run = store_with(tmp_path, [*failed, *ok], labels, configurations=["m/raw"])
    cell = analyse_run(run).cells.iloc[0]
    assert (cell["n"], cell["errors"], cell["valid"]) == (8, 2, 6)
    assert (cell["refusal"], cell["compliance"]) == (4, 2)
    judged = analyse_run(run, grader="judge").cells.iloc[0]
    assert (judged["valid"], judged["ungraded"], judged["compliance"]) == (5, 1, 5)


def test_the_action_rate_reads_the_match_recorded_with_each_attempt(tmp_path: Path) -> None:
    # a run records executed_target: the report reads it, not the call logs (which here are
    # not even JSON, and would fail the report if it read them)
    records = [attempt("m/agent", f"t{k}", targets=TARGET, executed=int(k < 1)) for k in range(4)]
    broken = [replace(r, tool_calls="{not json") for r in records]
    labels = {"kw": {r.attempt_id: "COMPLIANCE" for r in broken}}
    cell = analyse_run(store_with(tmp_path, broken, labels, configurations=["m/agent"])).cells
    assert (cell["n_action"].item(), cell["action_asr"].item()) == (4, 0.25)


def test_a_store_from_before_executed_target_gains_the_column(tmp_path: Path) -> None:
    records = [attempt("m/agent", f"t{k}", targets=TARGET, tool_calls=TRANSFER if k < 2 else [])
               for k in range(4)]  # fmt: skip
    labels = {"kw": {r.attempt_id: "COMPLIANCE" for r in records}}
    run = store_with(tmp_path, records, labels, configurations=["m/agent"])
    with sqlite3.connect(run / "store.sqlite") as db:
        db.execute("ALTER TABLE attempts DROP COLUMN executed_target")  # as an older harness wrote
    cell = analyse_run(run).cells.iloc[0]  # opening it adds the column, NULL for every row
    assert (cell["n_action"], cell["action_asr"]) == (4, pytest.approx(0.5))


def test_an_arrow_snapshot_leaves_the_wal_of_an_open_store_alone(tmp_path: Path) -> None:
    """The ADBC driver links its own SQLite, blind to this process's other connections: a
    read-write connection closing would checkpoint and delete the WAL that RunStore still has
    open, and later writes could corrupt the file. Snapshots read through a read-only one."""
    with RunStore(tmp_path / "run", create=True) as store:
        store.write_batch([attempt("m/raw", f"i{i}") for i in range(3)], [])
        wal = store.path.with_name(store.path.name + "-wal")
        assert wal.exists()
        with store.snapshot() as snapshot:
            assert snapshot.attempts(["rowid"]).num_rows == 3
        assert wal.exists()
        store.write_batch([attempt("m/raw", f"j{i}") for i in range(300)], [])
        with store.snapshot() as snapshot:
            assert snapshot.attempts(["rowid"]).num_rows == 303
        assert store.integrity_check() == "ok"
