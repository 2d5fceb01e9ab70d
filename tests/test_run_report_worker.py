"""`harness run` prints its report from a worker process that loaded pandas during the run.

The report must be exactly what `harness report` prints, and the worker must never outlive
the command: when the run is interrupted or the command is killed, it goes without a word
(a worker left holding the command's stdout would keep a pipe reader waiting forever).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _cli_helpers import cli_env, harness
from helpers import write_config
from test_resume import wait_for_rows

from harness.testing import ScriptedServer


def _start(config: Path, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(config), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
    )


def test_the_report_is_the_one_harness_report_prints(
    tmp_path: Path, server: ScriptedServer
) -> None:
    graders = [{"name": "refusal_keywords", "primary": True}, {"name": "detected_proceeds"}]
    config = write_config(tmp_path, server, n_items=8, graders=graders)
    done = harness("run", config, cwd=tmp_path, env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    alone = harness("report", tmp_path / "run", cwd=tmp_path, env=cli_env(tmp_path))
    assert alone.returncode == 0, alone.stderr
    assert done.stdout.startswith(alone.stdout)
    # then the graders' agreement, from the same worker
    assert "grader agreement on success" in done.stdout[len(alone.stdout) :]
    assert "Traceback" not in done.stderr


def test_no_report_when_interrupted_and_the_worker_goes(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.latency = 0.05
    config = write_config(tmp_path, server, n_items=400, deployments={"raw": {}})
    process = _start(config, tmp_path)
    wait_for_rows(tmp_path / "run" / "store.sqlite", 10, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)  # returns only once the worker let go too
    assert process.returncode == 130, err
    assert out == "" and "interrupted" in err and "Traceback" not in err


def test_a_killed_command_takes_its_worker_along(tmp_path: Path, server: ScriptedServer) -> None:
    server.latency = 0.05
    config = write_config(tmp_path, server, n_items=400, deployments={"raw": {}})
    process = _start(config, tmp_path)
    wait_for_rows(tmp_path / "run" / "store.sqlite", 10, process)
    os.kill(process.pid, signal.SIGKILL)
    started = time.monotonic()
    out, _ = process.communicate(timeout=60)  # EOF: nothing holds the stdout pipe any more
    assert process.returncode == -signal.SIGKILL and out == ""
    assert time.monotonic() - started < 30
