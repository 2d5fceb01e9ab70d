"""The runner end to end against the in-repo server: counts, errors, resume, limits."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import write_config

from harness import RunStoreError
from harness.config import load_config
from harness.grading import GraderContext, Label, Verdict
from harness.providers import ChatRequest, Provider, Reply, build_provider
from harness.reporting import analyse_run
from harness.runner import RunOptions, build_plan, execute, open_run, prepare_graders
from harness.runner import run_experiment as run
from harness.runner._attempt import ConfigurationRuntime
from harness.runner._channels import Channel
from harness.store import AttemptRecord, RunStore
from harness.testing import Fault, Rule, ScriptedServer

pytestmark = pytest.mark.anyio
QUIET = RunOptions(progress=False)


def rows(run_dir: Path) -> list[AttemptRecord]:
    with RunStore(run_dir) as store:
        return list(store.iter_attempts())


async def test_every_planned_attempt_is_stored_once(tmp_path: Path, server: ScriptedServer) -> None:
    config = load_config(write_config(tmp_path, server, n_items=5, samples=2))
    summary, run_dir = await run(config, options=QUIET)
    stored = rows(run_dir)
    assert summary.planned == len(stored) == 20 == len(server.recorded())
    assert {r.status for r in stored} == {"OK"}
    keys = {(r.configuration, r.item_id, r.sample_index) for r in stored}
    assert len(keys) == 20
    with RunStore(run_dir) as store:
        grades = store.grades_frame()
    assert len(grades) == 20 and set(grades["grader"]) == {"refusal_keywords"}


async def test_deployment_and_samples_shape_the_request(
    tmp_path: Path, server: ScriptedServer
) -> None:
    config = load_config(write_config(tmp_path, server, n_items=1, samples=2))
    await run(config, options=QUIET)
    bodies = [r.body for r in server.recorded()]
    systems = [b["messages"][0]["content"] for b in bodies if b["messages"][0]["role"] == "system"]
    assert systems == ["Be safe.", "Be safe."]  # only the guarded deployment has one
    assert sorted(b["seed"] for b in bodies) == [1, 1, 2, 2]  # distinct seed per sample


async def test_exhausted_retries_end_as_errors_never_graded(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.add_rule(Rule(match="[item-001]", faults=[Fault.http(500)] * 10))
    config = load_config(write_config(tmp_path, server, n_items=3, deployments={"raw": {}}))
    summary, run_dir = await run(config, options=QUIET)
    errors = [r for r in rows(run_dir) if r.status == "ERROR"]
    assert summary.statuses == {"OK": 2, "ERROR": 1}
    assert len(errors) == 1 and errors[0].tries == 3 and errors[0].error_kind == "server_error"
    assert server.count("[item-001]") == 3
    table = analyse_run(run_dir).cells
    with RunStore(run_dir) as store:
        graded = set(store.grades_frame()["attempt_id"])
    assert errors[0].attempt_id not in graded
    row = table.iloc[0]
    assert (row["n"], row["valid"], row["errors"], row["n_harmful"]) == (3, 2, 1, 2)


async def test_rerun_sends_only_missing_attempts(tmp_path: Path, server: ScriptedServer) -> None:
    server.add_rule(Rule(match="[item-002]", faults=[Fault.http(503)] * 3))
    path = write_config(tmp_path, server, n_items=4, deployments={"raw": {}})
    await run(load_config(path), options=QUIET)
    sent = len(server.recorded())
    summary, run_dir = await run(load_config(path), options=QUIET)
    assert summary.pending == 0 and len(server.recorded()) == sent
    # errors are kept unless asked; then re-sent and replaced, still one row each
    summary, run_dir = await run(
        load_config(path), options=RunOptions(retry_errors=True, progress=False)
    )
    assert summary.pending == 1 and summary.statuses == {"OK": 1}
    assert [r.status for r in rows(run_dir)] == ["OK"] * 4


async def test_changed_config_is_refused_unless_forced(
    tmp_path: Path, server: ScriptedServer
) -> None:
    path = write_config(tmp_path, server, n_items=3)
    await run(load_config(path), options=QUIET)
    data = yaml.safe_load(path.read_text())
    data["deployments"]["guarded"]["system_prompt"] = "Be very safe."
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RunStoreError, match="different config"):
        await run(load_config(path), options=QUIET)
    server.reset_log()
    summary, run_dir = await run(load_config(path), force=True, options=QUIET)
    # only the changed configuration is re-sent, and its rows are replaced, not duplicated
    assert summary.pending == 3 and len(server.recorded()) == 3
    stored = rows(run_dir)
    assert len(stored) == 6
    guarded = [json.loads(r.messages)[0]["content"] for r in stored if r.deployment == "guarded"]
    assert guarded == ["Be very safe."] * 3


class CountingProvider:
    """Wraps a real provider to observe how many calls are in flight at once."""

    def __init__(self, inner: Provider) -> None:
        self.inner, self.active, self.peak = inner, 0, 0

    async def complete(self, request: ChatRequest) -> Reply:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await self.inner.complete(request)
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _execute_counting(
    tmp_path: Path, server: ScriptedServer, **model: object
) -> CountingProvider:
    config = load_config(
        write_config(tmp_path, server, n_items=12, deployments={"raw": {}}, model=dict(model))
    )
    plan = build_plan(config)
    spec = config.spec.models["m"]
    provider = CountingProvider(build_provider(spec, api_key=None, base_dir=tmp_path))
    channel = Channel("m", provider, spec)
    runtimes = {c.name: ConfigurationRuntime(c, channel) for c in config.configurations}
    store = open_run(config, plan, {"m": channel}, tmp_path / "run", force=False)
    graders = prepare_graders(config.spec.graders, GraderContext(tmp_path))
    await execute(plan, store, runtimes, graders, options=QUIET)
    store.close()
    await provider.aclose()
    return provider


async def test_concurrency_limit_is_respected(tmp_path: Path, server: ScriptedServer) -> None:
    server.latency = 0.05
    provider = await _execute_counting(tmp_path, server, concurrency=3)
    assert provider.peak == 3


async def test_rpm_limit_spaces_requests(tmp_path: Path, server: ScriptedServer) -> None:
    await _execute_counting(tmp_path, server, concurrency=8, rpm=1200)
    times = sorted(r.received_at for r in server.recorded())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 1200 rpm is one request per 50 ms. Each arrival carries both processes' scheduling
    # jitter, so on a loaded machine one gap can be short while its neighbour is long: the
    # span and the typical gap are what the limit fixes (no limit: all 12 arrive at once)
    assert len(times) == 12
    assert times[-1] - times[0] >= 11 * 0.05 - 0.03 and statistics.median(gaps) >= 0.045


async def test_stop_keeps_finished_attempts_and_resume_completes(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.latency = 0.05
    path = write_config(tmp_path, server, n_items=40, deployments={"raw": {}})
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    summary, run_dir = await run(load_config(path), options=QUIET, stop=stop)
    assert summary.interrupted and 0 < len(rows(run_dir)) < 40
    kept = {r.prompt for r in rows(run_dir)}
    summary, _ = await run(load_config(path), options=QUIET)
    assert not summary.interrupted
    stored = rows(run_dir)
    assert len(stored) == 40 == len({r.attempt_id for r in stored})
    assert all(server.count(p.split()[0]) == 1 for p in kept)


class BrokenGrader:
    def __init__(self, options: object, context: object) -> None:
        self.calls = 0

    async def grade(self, attempt: AttemptRecord) -> Verdict:
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError("grader bug")
        return "not a verdict"  # type: ignore[return-value]


async def test_a_broken_grader_yields_unparseable_not_a_crash(
    tmp_path: Path, server: ScriptedServer
) -> None:
    path = write_config(
        tmp_path,
        server,
        n_items=4,
        deployments={"raw": {}},
        graders=[
            {"name": "refusal_keywords", "primary": True},
            {"name": "test_runner:BrokenGrader", "id": "broken"},
        ],
    )
    summary, run_dir = await run(load_config(path), options=QUIET)
    assert summary.statuses == {"OK": 4}
    with RunStore(run_dir) as store:
        grades = store.grades_frame()
    table = analyse_run(run_dir, grader="broken").cells
    broken = grades[grades["grader"] == "broken"]
    assert set(broken["label"]) == {Label.UNPARSEABLE}
    assert broken["error"].str.contains("grader raised RuntimeError|grader returned str").all()
    assert table.iloc[0]["unparseable"] == 4 and table.iloc[0]["valid"] == 0


async def test_a_batch_that_cannot_be_written_fails_the_run(
    tmp_path: Path, server: ScriptedServer
) -> None:
    """Writes run on a thread of their own: a failed one must still stop the run loudly,
    whichever task (a worker, or the periodic flush) happens to see it first."""
    config = load_config(write_config(tmp_path, server, n_items=40, deployments={"raw": {}}))
    plan = build_plan(config)
    spec = config.spec.models["m"]
    channel = Channel("m", build_provider(spec, api_key=None, base_dir=tmp_path), spec)
    runtimes = {c.name: ConfigurationRuntime(c, channel) for c in config.configurations}
    store = open_run(config, plan, {"m": channel}, tmp_path / "run", force=False)
    batches = 0
    written = store.write_batch

    def failing(*args: Any, **kwargs: Any) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise sqlite3.OperationalError("disk I/O error")
        written(*args, **kwargs)

    store.write_batch = failing  # type: ignore[method-assign]
    graders = prepare_graders(config.spec.graders, GraderContext(tmp_path))
    # only the periodic flush writes: the task that sees the failure is not a worker
    options = RunOptions(progress=False, flush_every=10_000, flush_interval=0.005)
    server.latency = 0.002
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        await execute(plan, store, runtimes, graders, options=options)
    # and it stopped then: the requests after the failure were not all sent for nothing
    assert len(server.recorded()) < 40
    store.close()
    await channel.aclose()
