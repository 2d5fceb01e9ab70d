"""The offline demo's send phase (`configs/demo.yaml`: the real model on the CPU), measured.

    python bench/bench_demo.py [--tree PATH] [--config configs/demo.yaml] [--keep DIR]

Runs `harness run CONFIG --no-report` into a fresh directory, in a process of its own, and prints
the send phase (the run's own "sent ... in N s"), the CPU seconds of the whole process tree (the
harness and its model workers: on a shared machine a steadier measure than wall time), and per
configuration the model calls' tokens, seconds and statuses, from the store. With `--tree`, the
harness of another checkout runs instead (its own config too), e.g. a worktree of main, so that
two versions can be measured side by side; the load average is printed before and after.

Target (issue 10): a send phase under 2 minutes on the project's idle 2-core machine.
Several minutes: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of a live process, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers(parent: int) -> list[int]:
    """The model workers the run started, oldest first (the target's model loads first)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and b"_llamacpp_worker" in command:
            found.append((int(stat[19]), int(entry.name)))  # start time, then pid
    return [pid for _, pid in sorted(found)]


def _run(tree: Path, config: Path, output: Path) -> tuple[float, float, str, list[float]]:
    """The run's wall and CPU seconds, its stderr, and each model worker's CPU seconds (read
    from /proc twice a second while it lives: the last reading before it exits)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(config), "--no-report", "--output",
         str(output)],
        cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers: dict[int, float] = {}
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.append(process.communicate()[1]))
    reader.start()
    while reader.is_alive():
        for pid in _workers(process.pid):
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                workers[pid] = seconds
        reader.join(timeout=0.5)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        sys.exit(f"harness run exited {process.returncode}:\n{stderr[0][-2000:]}")
    return wall, cpu, stderr[0], list(workers.values())


def _per_configuration(output: Path) -> list[tuple[object, ...]]:
    [store] = output.glob("*.sqlite")
    with sqlite3.connect(store) as db:
        return db.execute(
            "SELECT configuration, COUNT(*), SUM(status = 'OK'), SUM(status = 'ERROR'), "
            "SUM(completion_tokens), SUM(latency_s) FROM attempts "
            "GROUP BY configuration ORDER BY MIN(rowid)"
        ).fetchall()


def _judge(output: Path) -> tuple[object, ...]:
    [store] = output.glob("*.sqlite")
    with sqlite3.connect(store) as db:
        row: tuple[object, ...] = db.execute(
            "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM requests "
            "WHERE role = 'judge'"
        ).fetchone()
        return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout whose harness runs")
    parser.add_argument("--config", default="configs/demo.yaml", help="relative to --tree")
    parser.add_argument("--keep", type=Path, default=None, help="run directory to keep")
    args = parser.parse_args()
    tree = args.tree.resolve()
    print(f"tree {tree}; load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as scratch:
        output = args.keep or Path(scratch) / "run"
        wall, cpu, stderr, workers = _run(tree, tree / args.config, output)
        sent = re.search(r"sent \d+ .* in ([\d.]+)s", stderr)
        print(f"send phase {sent.group(1) if sent else '?'} s; whole command {wall:.1f} s; "
              f"CPU of the process tree {cpu:.1f} s")  # fmt: skip
        # one thread each: a worker's CPU seconds are about its wall seconds on an idle core
        print(
            "model workers' CPU seconds (target first, then the judge): "
            + ", ".join(f"{seconds:.1f}" for seconds in workers)
        )
        print("configuration                attempts  OK  ERROR  tokens  model s  tokens/s")
        for name, n, ok, errors, tokens, seconds in _per_configuration(output):
            rate = (tokens or 0) / seconds if seconds else float("nan")
            print(f"{name!s:28} {n:8} {ok:3} {errors:6} {tokens or 0:7} {seconds or 0:8.1f} "
                  f"{rate:9.1f}")  # fmt: skip
        calls, prompt_tokens, completion_tokens = _judge(output)
        print(f"judge: {calls} calls, {prompt_tokens} prompt and {completion_tokens} answer tokens")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
