"""Sharded runs: deterministic disjoint slices that merge back into the whole experiment."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _cli_helpers import assert_user_error, cli_env, harness
from helpers import write_config
from test_adaptive_attacks import write_pair_config
from test_adaptive_resume import CRESCENDO, PAIR, reply

from harness._errors import RunStoreError
from harness.annotate import CONSENSUS, AnnotationStore, annotation_raters, choose_sample
from harness.config import load_config
from harness.reporting import analyse_run, render
from harness.runner import RunOptions, Shard, build_plan, run_experiment
from harness.store import RunStore, merge_runs
from harness.testing import Fault, Rule, ScriptedServer

pytestmark = pytest.mark.anyio
QUIET = RunOptions(progress=False)


async def run_shards(tmp_path: Path, server: ScriptedServer, count: int) -> list[Path]:
    path = write_config(tmp_path, server, n_items=20)
    config = load_config(path)
    runs = []
    for index in range(count):
        _, run_dir = await run_experiment(config, options=QUIET, shard=Shard(index, count))
        runs.append(run_dir)
    return runs


def ids(run: Path) -> set[str]:
    with RunStore(run) as store:
        return {a.attempt_id for a in store.iter_attempts()}


async def test_shards_are_disjoint_and_cover_the_plan(
    tmp_path: Path, server: ScriptedServer
) -> None:
    runs = await run_shards(tmp_path, server, 3)
    assert [r.name for r in runs] == [f"run.shard-{i}-of-3" for i in range(3)]
    slices = [ids(r) for r in runs]
    assert all(slices) and sum(map(len, slices)) == len(set().union(*slices)) == 40
    plan = build_plan(load_config(tmp_path / "config.yaml"))
    assert set().union(*slices) == {w.attempt_id for w in plan.iter_work()}
    # the same shard computed again is the same slice
    again = build_plan(load_config(tmp_path / "config.yaml"), Shard(1, 3))
    assert {w.attempt_id for w in again.iter_work()} == slices[1]


async def test_merge_combines_shards_into_one_run(tmp_path: Path, server: ScriptedServer) -> None:
    runs = await run_shards(tmp_path, server, 2)
    merged = tmp_path / "merged"
    done = harness("merge", *runs, "--out", merged, cwd=tmp_path, env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "40 attempts, 40 grades, 0 attack steps, 0 duplicate" in done.stdout
    with RunStore(merged) as store:
        assert store.count_attempts() == 40 and store.integrity_check() == "ok"
    exported = harness("export", merged, "--format", "parquet", cwd=tmp_path, env=cli_env(tmp_path))
    assert exported.returncode == 0, exported.stderr
    frame = pd.read_parquet(merged / "attempts.parquet")
    assert len(frame) == 40 and frame["attempt_id"].is_unique
    report = harness("report", merged, "--format", "csv", cwd=tmp_path, env=cli_env(tmp_path))
    # a header and one row per configuration
    assert report.returncode == 0 and len(report.stdout.strip().splitlines()) == 3


async def test_merge_refuses_shards_of_other_configs(
    tmp_path: Path, server: ScriptedServer
) -> None:
    (tmp_path / "a").mkdir()
    first = await run_shards(tmp_path / "a", server, 2)
    config = tmp_path / "b" / "config.yaml"
    config.parent.mkdir()
    write_config(config.parent, server, n_items=20)
    data = yaml.safe_load(config.read_text())
    data["deployments"]["guarded"]["system_prompt"] = "Another prompt."
    config.write_text(yaml.safe_dump(data))
    _, other = await run_experiment(load_config(config), options=QUIET, shard=Shard(1, 2))
    env = cli_env(tmp_path)
    refused = harness("merge", first[0], other, "--out", tmp_path / "m", cwd=tmp_path, env=env)
    assert_user_error(refused, "config_hash differs")
    twice = harness("merge", first[0], first[0], "--out", tmp_path / "m2", cwd=tmp_path, env=env)
    assert_user_error(twice, "twice")


@pytest.mark.parametrize("spec", ["3/3", "-1/2", "a/b", "2"])
def test_a_shard_out_of_range_is_a_user_error(tmp_path: Path, spec: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("name: x\n")
    done = harness("run", config, "--shard", spec, cwd=tmp_path, env=cli_env(tmp_path))
    assert_user_error(done, "--shard")


# -- adaptive searches and annotations survive a merge ---------------------------------------
N_ADAPTIVE = 4
# one stream: PAIR's third round is where the scripted failure lands
PAIR_1 = {**PAIR, "options": {**PAIR["options"], "n_streams": 1}}
RETRY = RunOptions(progress=False, retry_errors=True)


def failing_third_round() -> Rule:
    """Every item's PAIR search fails at its third round (both tries): an ERROR attempt with
    its first two rounds stored as steps. Crescendo's searches finish."""
    return Rule(match="LANGUAGE MODEL OUTPUT: NO-2", faults=[Fault.http(500)] * 2 * N_ADAPTIVE)


def adaptive_config(tmp: Path, server: ScriptedServer) -> Path:
    tmp.mkdir()
    return write_pair_config(tmp, server, n_items=N_ADAPTIVE, attacks=[PAIR_1, CRESCENDO])


def step_rows(run: Path) -> list[tuple[str, ...]]:
    with closing(sqlite3.connect(run / "store.sqlite")) as db:
        return sorted(db.execute("SELECT * FROM attack_steps").fetchall())


def searches(steps: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Which step of which attempt's search each is (the answers hold times and hashes)."""
    return sorted((attempt_id, key, role) for attempt_id, _, key, role, _, _ in steps)


def models_sent(server: ScriptedServer, since: int) -> Counter[str]:
    return Counter(r.body["model"] for r in server.recorded()[since:])


def report_text(run: Path) -> str:
    """The markdown report with what names the run itself (its directory) taken out."""
    return render(analyse_run(run, n_boot=50), "md").replace(str(run), "RUN")


async def test_merge_keeps_adaptive_steps_so_the_merged_run_resumes_them(
    tmp_path: Path,
) -> None:
    # the reference: the experiment unsharded, its failed searches then retried
    with ScriptedServer(default_reply=reply, rules=[failing_third_round()]) as server:
        config = load_config(adaptive_config(tmp_path / "whole", server))
        summary, whole = await run_experiment(config, options=QUIET)
        assert summary.statuses == {"ERROR": N_ADAPTIVE, "OK": N_ADAPTIVE}
        first, whole_steps = len(server.recorded()), step_rows(whole)
        await run_experiment(config, options=RETRY)
        whole_retry = models_sent(server, first)
    # rounds 1 and 2 of each failed PAIR search came from the store, rounds 3 and 4 were sent
    assert whole_retry == {"a": 2 * N_ADAPTIVE, "t": 2 * N_ADAPTIVE, "j": 2 * N_ADAPTIVE}

    with ScriptedServer(default_reply=reply, rules=[failing_third_round()]) as server:
        config = load_config(adaptive_config(tmp_path / "sharded", server))
        shards = [
            (await run_experiment(config, options=QUIET, shard=Shard(i, 2)))[1] for i in range(2)
        ]
        assert all(step_rows(s) for s in shards)  # both shards ran searches
        merged = config.output_dir  # where the unsharded config resumes
        done = harness("merge", *shards, "--out", merged, cwd=tmp_path, env=cli_env(tmp_path))
        assert done.returncode == 0, done.stderr
        union = sorted(step_rows(shards[0]) + step_rows(shards[1]))
        assert step_rows(merged) == union and len(set(union)) == len(union)
        assert f"{len(union)} attack steps" in done.stdout
        # the same searches as unsharded, step for step
        assert searches(step_rows(merged)) == searches(whole_steps)
        # the merged run, resumed unsharded, sends only what no shard had answered
        sent = len(server.recorded())
        summary, _ = await run_experiment(config, options=RETRY)
        assert summary.statuses == {"OK": N_ADAPTIVE}
        assert models_sent(server, sent) == whole_retry
    assert report_text(merged) == report_text(whole)


def rows_of(run: Path, table: str, attempts: set[str]) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(run / "store.sqlite")) as db:
        rows = db.execute(f"SELECT * FROM {table}").fetchall()
    return sorted(r for r in rows if r[0] in attempts)


async def test_an_attempt_in_two_shards_keeps_the_steps_and_grades_of_the_copy_kept(
    tmp_path: Path,
) -> None:
    """Overlapping slices (shard 0/2 and 0/1 of one config): each attempt's steps and grades
    come from the shard whose copy of it is kept, never a mix of two searches."""
    with ScriptedServer(default_reply=reply) as server:
        path = adaptive_config(tmp_path / "exp", server)
        config = load_config(path)
        half = Shard(0, 2)
        failures = 2 * build_plan(config, half).n_items  # shard 0/2's PAIR searches all fail
        server.add_rule(
            Rule(match="LANGUAGE MODEL OUTPUT: NO-2", faults=[Fault.http(500)] * failures)
        )
        _, failed = await run_experiment(config, options=QUIET, shard=half)
        _, whole = await run_experiment(config, options=QUIET, shard=Shard(0, 1))
    overlap = ids(failed)
    assert overlap and ids(whole) > overlap
    # shard 0/2 killed mid-search: its searches' steps stored, their attempts not yet
    killed = tmp_path / "killed"
    shutil.copytree(failed, killed)
    with closing(sqlite3.connect(killed / "store.sqlite")) as db, db:
        db.execute("DELETE FROM attempts WHERE status = 'ERROR'")
    searching = overlap - ids(killed)
    assert searching and rows_of(killed, "attack_steps", searching)

    def merged(*runs: Path) -> Path:
        out = tmp_path / f"merged-{len(list(tmp_path.glob('merged-*')))}"
        counts = merge_runs(runs, out)
        assert counts["attack_steps"] == len(rows_of(out, "attack_steps", ids(out)))
        return out

    # the first shard's copy is kept: its failed searches (2 rounds each), with their grades
    first = merged(failed, whole)
    rest = ids(whole) - overlap
    for table in ("attack_steps", "grades"):
        assert rows_of(first, table, overlap) == rows_of(failed, table, overlap)
        assert rows_of(first, table, rest) == rows_of(whole, table, rest)
    # a search a shard left unfinished, finished by another: the finished one, whatever the order
    for runs in [(killed, whole), (whole, killed)]:
        out = merged(*runs)
        assert rows_of(out, "attack_steps", searching) == rows_of(whole, "attack_steps", searching)
        kept, others = ids(runs[0]), ids(out) - ids(runs[0])
        assert rows_of(out, "attack_steps", ids(out)) == sorted(
            rows_of(runs[0], "attack_steps", kept) + rows_of(runs[1], "attack_steps", others)
        )


def annotation_log(run: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(run / "store.sqlite")) as db:
        return db.execute(
            "SELECT sample, rater, annotator, attempt_id, action, label, note, at "
            "FROM annotation_log ORDER BY id"
        ).fetchall()


def human_grades(run: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(run / "store.sqlite")) as db:
        rows = db.execute("SELECT * FROM grades WHERE grader != 'refusal_keywords'").fetchall()
    return sorted(rows)


async def test_merge_carries_every_shards_annotations(
    tmp_path: Path, server: ScriptedServer
) -> None:
    runs = await run_shards(tmp_path, server, 3)  # shard 2 is never annotated
    drawn = []
    for run, annotators in [(runs[0], ["alice", "bob"]), (runs[1], ["alice"])]:
        store = AnnotationStore(run)
        # the same --sample 4 on each shard: one name, two different draws
        definition, items = choose_sample(run, store, size=4, seed=0, stratify_by=[])
        for name in annotators:
            for i, attempt_id in enumerate(items):
                label = None if i == 0 else "REFUSAL" if i % 2 else "COMPLIANCE"  # 0: skipped
                store.record(
                    sample=definition.name, annotator=name, attempt_id=attempt_id, label=label,
                    note=f"{name} {i}",
                )  # fmt: skip
        drawn.append(items)
        store.close()
    # a sample only shard 1 drew, one of its items settled by an adjudicator
    store = AnnotationStore(runs[1])
    only, only_items = choose_sample(runs[1], store, size=2, seed=7, stratify_by=[])
    store.record(
        sample=only.name, annotator="carol", attempt_id=only_items[0], label="COMPLIANCE",
        note="settled", adjudicating=True,
    )  # fmt: skip
    store.close()
    assert drawn[0] != drawn[1] and definition.name == "n4-seed0"

    # without a copier of the annotation tables, a merge refuses rather than drop them
    with pytest.raises(RunStoreError, match="annotation_items"):
        merge_runs(runs, tmp_path / "without")
    merged = tmp_path / "merged"
    done = harness("merge", *runs, "--out", merged, cwd=tmp_path, env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    log = [*annotation_log(runs[0]), *annotation_log(runs[1])]
    assert "3 annotation samples (2 renamed" in done.stdout
    assert f"{len(log)} annotation log entries" in done.stdout
    # every rater, label and log entry of every shard; the two draws kept apart, by shard
    assert annotation_raters(merged) == {
        "human.alice": "human",
        "human.bob": "human",
        "adjudicated": "adjudicated",
    }
    assert human_grades(merged) == sorted(human_grades(runs[0]) + human_grades(runs[1]))
    apart = {0: "n4-seed0.shard-0-of-3", 1: "n4-seed0.shard-1-of-3"}
    renamed = [
        (apart[i] if sample == "n4-seed0" else sample, *rest)
        for i, run in enumerate(runs[:2])
        for sample, *rest in annotation_log(run)
    ]
    assert annotation_log(merged) == renamed
    store = AnnotationStore(merged)
    assert {s.name for s in store.samples()} == {*apart.values(), only.name}
    assert [store.sample_items(apart[i]) for i in (0, 1)] == drawn
    # skips stay skips, in their sample
    assert store.skipped("human.bob", apart[0]) == {drawn[0][0]}
    # the sample one shard drew keeps its name: its annotators carry on with the same command
    again, items = choose_sample(merged, store, size=2, seed=7, stratify_by=[])
    assert (again, items) == (only, only_items)
    store.close()
    # the humans are the report's reference, as in an annotated run made unsharded
    assert analyse_run(merged, n_boot=50).reference == CONSENSUS


async def test_a_table_the_merge_would_not_copy_is_refused(
    tmp_path: Path, server: ScriptedServer
) -> None:
    runs = await run_shards(tmp_path, server, 2)
    with closing(sqlite3.connect(runs[1] / "store.sqlite")) as db:
        db.execute("CREATE TABLE notes_of_a_newer_harness (attempt_id TEXT, note TEXT)")
    done = harness("merge", *runs, "--out", tmp_path / "m", cwd=tmp_path, env=cli_env(tmp_path))
    assert_user_error(done, str(runs[1]), "notes_of_a_newer_harness")
    assert not (tmp_path / "m").exists()
