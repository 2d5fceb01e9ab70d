"""A run killed mid-way (SIGKILL, or Ctrl-C) resumes with every attempt stored exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from helpers import write_config

from harness.store import RunStore
from harness.testing import ScriptedServer

N_ITEMS = 60


def start(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HARNESS_LOAD_PLUGINS": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(config), "--no-report", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stored_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0


def wait_for_rows(db: Path, at_least: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while stored_count(db) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run stored nothing within 60 s"
        time.sleep(0.02)


def stored_prompts(run_dir: Path) -> list[str]:
    with RunStore(run_dir) as store:
        assert store.integrity_check() == "ok"
        return [a.prompt.split()[0] for a in store.iter_attempts()]


def test_sigkill_then_resume_stores_every_attempt_once(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.latency = 0.05
    config = write_config(tmp_path, server, n_items=N_ITEMS, deployments={"raw": {}})
    run_dir = tmp_path / "run"
    process = start(config)
    wait_for_rows(run_dir / "store.sqlite", 10, process)
    process.send_signal(signal.SIGKILL)
    process.communicate()  # waits, and closes its pipes
    before = stored_prompts(run_dir)
    assert 10 <= len(before) < N_ITEMS

    resumed = start(config)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    after = stored_prompts(run_dir)
    assert sorted(after) == sorted(set(after)) and len(after) == N_ITEMS
    # what was stored before the kill was never sent again
    assert all(server.count(tag) == 1 for tag in before)
    # anything in flight at the kill was sent at most twice (once before, once after)
    assert all(server.count(tag) <= 2 for tag in after)


def test_sigint_stops_cleanly_and_keeps_finished_work(
    tmp_path: Path, server: ScriptedServer
) -> None:
    server.latency = 0.05
    config = write_config(tmp_path, server, n_items=N_ITEMS, deployments={"raw": {}})
    run_dir = tmp_path / "run"
    process = start(config)
    wait_for_rows(run_dir / "store.sqlite", 5, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    kept = stored_prompts(run_dir)
    assert 5 <= len(kept) < N_ITEMS
    # everything sent and answered before the stop was stored (in-flight ones were cancelled)
    assert len(server.recorded()) - len(kept) <= 4

    resumed = start(config)
    resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    assert len(stored_prompts(run_dir)) == N_ITEMS
    assert all(server.count(tag) == 1 for tag in kept)


def test_repeated_sigkill_at_random_points_loses_and_repeats_nothing(
    tmp_path: Path, server: ScriptedServer
) -> None:
    import random

    server.latency = 0.05
    n_items = 200  # about 2.5 s of work at concurrency 4: three kills land mid-run
    config = write_config(tmp_path, server, n_items=n_items, deployments={"raw": {}})
    run_dir = tmp_path / "run"
    chooser = random.Random(7)  # seeded: the kill points are random but reproducible
    stored: set[str] = set()
    sent_when_stored: dict[str, int] = {}
    for _ in range(3):
        process = start(config)
        wait_for_rows(run_dir / "store.sqlite", len(stored) + 1, process)
        time.sleep(chooser.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.communicate()  # waits, and closes its pipes
        now = stored_prompts(run_dir)  # integrity_check() == "ok" after every kill
        assert set(now) >= stored and len(now) == len(set(now))
        stored = set(now)
        # an attempt in flight at an earlier kill was sent again; once stored, never again
        sent_when_stored |= {t: server.count(t) for t in stored if t not in sent_when_stored}
    resumed = start(config)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    final = stored_prompts(run_dir)
    assert len(final) == len(set(final)) == n_items
    assert all(server.count(tag) == sent for tag, sent in sent_when_stored.items())
    assert max(sent_when_stored.values()) <= 4  # at most once per run: 3 killed + 1
