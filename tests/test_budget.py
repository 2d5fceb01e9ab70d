"""Cost accounting and budgets: a run stops cleanly when its budget is spent."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _cli_helpers import assert_user_error, cli_env, harness
from helpers import write_config

from harness.config import load_config
from harness.reporting import analyse_run
from harness.runner import RunOptions, run_experiment
from harness.store import RunStore
from harness.testing import ScriptedServer

pytestmark = pytest.mark.anyio
QUIET = RunOptions(progress=False)
PRICES = {"m": {"input": 2.0, "output": 10.0}}


async def test_max_requests_stops_the_run_and_resume_respects_it(
    tmp_path: Path, server: ScriptedServer
) -> None:
    path = write_config(
        tmp_path,
        server,
        n_items=30,
        deployments={"raw": {}},
        model={"concurrency": 2},
        budget={"max_requests": 10},
    )
    summary, run_dir = await run_experiment(load_config(path), options=QUIET)
    assert summary.budget_exhausted and "max_requests 10" in summary.budget_exhausted
    with RunStore(run_dir) as store:
        stored = store.count_attempts()
    # requests are counted as they finish, so those already in flight when the limit is hit
    # (concurrency 2) may still be sent: an overshoot of at most the concurrency
    sent = len(server.recorded())
    assert 10 <= sent <= 12 and 8 <= stored <= sent
    summary, _ = await run_experiment(load_config(path), options=QUIET)
    assert summary.budget_exhausted and summary.finished == 0  # already spent


async def test_cost_is_reported_per_configuration(tmp_path: Path, server: ScriptedServer) -> None:
    path = write_config(tmp_path, server, n_items=5, prices=PRICES)
    _, run_dir = await run_experiment(load_config(path), options=QUIET)
    cells = analyse_run(run_dir).cells
    for row in cells.to_dict("records"):
        expected = (row["prompt_tokens"] * 2.0 + row["completion_tokens"] * 10.0) / 1e6
        assert row["prompt_tokens"] > 0 and row["cost"] == pytest.approx(expected)


async def test_max_cost_stops_the_run(tmp_path: Path, server: ScriptedServer) -> None:
    # each reply costs about (5 prompt + 4 completion tokens) at 1000/1000 USD per Mtok
    path = write_config(
        tmp_path,
        server,
        n_items=40,
        deployments={"raw": {}},
        model={"concurrency": 1},
        prices={"m": {"input": 1000.0, "output": 1000.0}},
        budget={"max_cost": 0.05},
    )
    summary, _ = await run_experiment(load_config(path), options=QUIET)
    assert summary.budget_exhausted and "max_cost" in summary.budget_exhausted
    assert 0 < summary.finished < 40


def test_budget_exit_code_and_price_table_errors(tmp_path: Path, server: ScriptedServer) -> None:
    path = write_config(
        tmp_path, server, n_items=10, deployments={"raw": {}}, budget={"max_requests": 3}
    )
    done = harness("run", path, "--no-report", cwd=tmp_path, env=cli_env(tmp_path))
    assert done.returncode == 3 and "budget: max_requests 3 reached" in done.stderr
    data = yaml.safe_load(path.read_text())
    data["budget"] = {"max_cost": 1.0}
    path.write_text(yaml.safe_dump(data))
    refused = harness("validate", path, cwd=tmp_path, env=cli_env(tmp_path))
    assert_user_error(refused, "does not cover model(s) m")
