"""Fault injection through whole runs: every attempt ends in exactly one terminal state."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from helpers import write_config

from harness.config import load_config
from harness.reporting import analyse_run
from harness.runner import RunOptions, run_experiment
from harness.runner._adaptive import AdaptiveGate
from harness.store import RunStore
from harness.testing import Fault, Rule, ScriptedServer

pytestmark = pytest.mark.anyio
QUIET = RunOptions(progress=False)
MAX_ATTEMPTS = 3
FAULTS = {
    "429-retry-after": Fault.http(429, retry_after=0.01),
    "429-bare": Fault.http(429),
    "500": Fault.http(500),
    "503": Fault.http(503),
    "reset": Fault.reset(),
    "read-timeout": Fault.delay(3),
    "not-json": Fault.invalid_json(),
    "no-choices": Fault.no_choices(),
    "empty-body": Fault.empty_body(),
}
KINDS = {
    "429-retry-after": "rate_limited",
    "429-bare": "rate_limited",
    "500": "server_error",
    "503": "server_error",
    "reset": "connection",
    "read-timeout": "timeout",
    "not-json": "malformed_reply",
    "no-choices": "malformed_reply",
    "empty-body": "malformed_reply",
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_each_fault_ends_in_one_recorded_state(
    tmp_path: Path, server: ScriptedServer, name: str
) -> None:
    fault = FAULTS[name]
    # item 0 always fails, item 1 fails once then succeeds, items 2-3 are clean
    server.add_rule(Rule(match="[item-000]", faults=[fault] * 10))
    server.add_rule(Rule(match="[item-001]", faults=[fault]))
    model = {
        "timeout": 0.5,
        "retry": {"max_attempts": MAX_ATTEMPTS, "initial_backoff": 0.01, "max_backoff": 0.02},
    }
    path = write_config(tmp_path, server, n_items=4, deployments={"raw": {}}, model=model)
    summary, run_dir = await run_experiment(load_config(path), options=QUIET)
    with RunStore(run_dir) as store:
        attempts = {a.item_id: a for a in store.iter_attempts()}
        graded = set(store.grades_frame()["attempt_id"])
    assert summary.finished == len(attempts) == 4
    failed, recovered = attempts["i000"], attempts["i001"]
    assert failed.status == "ERROR" and failed.error_kind == KINDS[name]
    assert failed.tries == MAX_ATTEMPTS == server.count("[item-000]")
    assert failed.error and failed.response is None and failed.attempt_id not in graded
    assert recovered.status == "OK" and recovered.tries == 2
    logged = (run_dir / "harness.log").read_text()
    assert f"m: gave up after {MAX_ATTEMPTS} tries: {KINDS[name]}" in logged
    cell = analyse_run(run_dir).cells.iloc[0]
    # the failure is counted as an error, never as success or refusal
    assert (cell["errors"], cell["valid"], cell["n_harmful"]) == (1, 3, 3)


async def test_server_that_disappears_and_comes_back(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.latency = 0.02
    model = {
        "concurrency": 2,
        "retry": {"max_attempts": 8, "initial_backoff": 0.05, "max_backoff": 0.2},
    }
    path = write_config(tmp_path, server, n_items=30, deployments={"raw": {}}, model=model)
    loop = asyncio.get_running_loop()
    loop.call_later(0.15, server.go_down)
    loop.call_later(0.6, server.come_back)
    summary, run_dir = await run_experiment(load_config(path), options=QUIET)
    with RunStore(run_dir) as store:
        attempts = list(store.iter_attempts())
    assert len(attempts) == 30 and {a.status for a in attempts} == {"OK"}
    assert max(a.tries for a in attempts) > 1  # some requests met the outage and were retried
    assert summary.statuses == {"OK": 30}


async def test_sustained_429s_lower_concurrency_then_it_recovers(
    tmp_path: Path, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.latency = 0.01
    server.add_faults(*[Fault.http(429, retry_after=0.05)] * 12)
    model = {
        "concurrency": 8,
        "retry": {"max_attempts": 10, "initial_backoff": 0.01, "max_backoff": 0.05},
    }
    path = write_config(tmp_path, server, n_items=80, deployments={"raw": {}}, model=model)
    with caplog.at_level(logging.INFO, logger="harness.runner.adaptive"):
        summary, _ = await run_experiment(load_config(path), options=QUIET)
    assert summary.statuses == {"OK": 80}
    changes = [r.getMessage() for r in caplog.records]
    assert any("concurrency 8 -> 4 (rate limited)" in m for m in changes)
    assert any("(recovering)" in m for m in changes)
    # and in the run's own log, for whoever reads it after a week-long run
    logged = (tmp_path / "run" / "harness.log").read_text()
    assert "m: concurrency 8 -> 4 (rate limited)" in logged and "(recovering)" in logged
    assert "already stored; sent 80 (OK=80)" in logged


async def test_adaptive_gate_halves_once_per_burst_and_grows_back() -> None:
    gate = AdaptiveGate("m", 8, cooldown=60)
    gate.rate_limited()
    gate.rate_limited()  # the same burst: counted once
    assert gate.limit == 4
    for _ in range(4):
        await gate.succeeded()
    assert gate.limit == 5
    for _ in range(100):
        await gate.succeeded()
    assert gate.limit == 8  # never above the configured ceiling


async def test_adaptive_gate_never_admits_more_than_its_limit() -> None:
    """Free slots are taken without the lock; the limit must still hold under contention, and
    at once when a rate limit lowers it."""
    gate = AdaptiveGate("m", 6, cooldown=0)
    active = peak_before = peak_after = 0
    lowered = asyncio.Event()

    async def request(k: int) -> None:
        nonlocal active, peak_before, peak_after
        async with gate.slot():
            active += 1
            if lowered.is_set():
                peak_after = max(peak_after, active)
            else:
                peak_before = max(peak_before, active)
            await asyncio.sleep(0.001 * (k % 3))
            active -= 1
        if k == 40:
            gate.rate_limited()  # 6 -> 3
            lowered.set()

    await asyncio.gather(*(request(k) for k in range(200)))
    assert peak_before == 6
    # requests admitted before the cut may still be in flight; none enters until they drain
    assert gate.limit >= 3 and peak_after <= 6
    later = 0

    async def after(k: int) -> None:
        nonlocal later
        async with gate.slot():
            later += 1
            assert later <= gate.limit
            await asyncio.sleep(0.001)
            later -= 1

    gate.limit = 2
    await asyncio.gather(*(after(k) for k in range(50)))
