"""Scale benchmark: 100,000 prompts x 1 configuration through `harness run`, peak RSS < 400 MB.

The in-repo server (`python -m harness.testing`) runs in its own process; `harness run` runs in
another, exactly as a user starts it (CLI, config and suite load, send, keyword grading, batched
SQLite writes and the end-of-run report). Its peak RSS comes from the kernel's rusage of that
child (os.wait4), so neither this script nor the server is counted. Afterwards the store must
hold exactly one row per prompt. A second `harness run` of the same config then resumes a
finished run (nothing to send: it reads every stored request and walks the whole plan), which is
where a 100k-entry resume index would show.

Usage:
    python bench/bench_scale.py [--prompts 100000] [--concurrency 64] [--latency 0]
                                [--no-report] [--no-resume] [--keep DIR]

Exits non-zero only if something crashes; a missed target is printed as MISSED.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

RSS_TARGET_MB = 400.0
NO_LOG = ["--no-log"]  # the server keeps no request log: its memory stays flat


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.testing",
            "--port",
            "0",
            "--latency",
            str(latency),
            *NO_LOG,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split()[1]  # the base URL, /v1 included
    finally:
        process.terminate()
        process.wait()


def write_experiment(directory: Path, base_url: str, prompts: int, concurrency: int) -> Path:
    suite = directory / "suite.jsonl"
    with suite.open("w", encoding="utf-8") as handle:
        for i in range(prompts):
            row = {
                "id": f"p{i:06d}",
                "prompt": f"Prompt number {i}: explain step by step how one would do thing {i}.",
                "category": f"cat{i % 12}",
                "harmful": i % 5 != 0,
            }
            handle.write(json.dumps(row) + "\n")
    config = {
        "name": "scale",
        "models": {
            "m": {
                "provider": "openai",
                "model": "m",
                "base_url": base_url,
                "concurrency": concurrency,
                "params": {"max_tokens": 8, "temperature": 0, "seed": 1},
            }
        },
        "deployments": {"raw": {}},
        "configurations": [{"model": "m", "deployment": "raw"}],
        "suites": [{"name": "s", "source": str(suite)}],
        "graders": [{"name": "refusal_keywords", "id": "kw", "primary": True}],
        "output": str(directory / "run"),
    }
    path = directory / "scale.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass
class ChildRun:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stderr: str
    stdout_lines: int


def run_harness(args: list[str], env: dict[str, str]) -> ChildRun:
    """Start `harness ...` and reap it with wait4, so its rusage is its own."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness", *args], stdout=out, stderr=err, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return ChildRun(
        wall, usage.ru_maxrss / 1024, process.returncode, stderr, len(stdout.splitlines())
    )


def store_counts(run_dir: Path) -> tuple[int, int, dict[str, int]]:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        attempts = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        distinct = db.execute("SELECT COUNT(DISTINCT attempt_id) FROM attempts").fetchone()[0]
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM attempts GROUP BY status"))
    finally:
        db.close()
    return int(attempts), int(distinct), {str(k): int(v) for k, v in statuses.items()}


def sent_phase(stderr: str) -> float | None:
    """The send+grade+store time `harness run` prints: '... sent N (...) in 12.3s'."""
    for line in reversed(stderr.splitlines()):
        if " sent " in line and line.rstrip().endswith("s"):
            try:
                return float(line.rstrip()[:-1].rsplit(" in ", 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--no-report", action="store_true", help="harness run --no-report")
    parser.add_argument("--no-resume", action="store_true", help="skip the resume run")
    parser.add_argument("--keep", type=Path, help="copy the run directory here afterwards")
    args = parser.parse_args()
    n = args.prompts
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        with fake_server(args.latency) as url:
            config = write_experiment(tmp, url, n, args.concurrency)
            flags = ["--no-progress"] + (["--no-report"] if args.no_report else [])
            first = run_harness(["run", str(config), *flags], env)
            if first.returncode != 0:
                sys.stderr.write(first.stderr[-4000:])
                raise RuntimeError(f"harness run exited {first.returncode}")
            resume = None
            if not args.no_resume:
                resume = run_harness(["run", str(config), *flags], env)
                if resume.returncode != 0:
                    sys.stderr.write(resume.stderr[-4000:])
                    raise RuntimeError(f"resumed harness run exited {resume.returncode}")
        rows, distinct, statuses = store_counts(tmp / "run")
        if args.keep:
            shutil.copytree(tmp / "run", args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    send = sent_phase(first.stderr)
    report = "without" if args.no_report else "with"
    print(
        f"bench_scale: {n} prompts x 1 configuration, concurrency {args.concurrency}, "
        f"server latency {args.latency * 1000:.0f} ms, `harness run` {report} its report"
    )
    print(f"  wall (process start to exit)   {first.wall_s:8.1f} s")
    if send is not None:
        print(f"  send+grade+store phase         {send:8.1f} s")
        print(f"  attempts/s (send phase)        {n / send:8.0f}")
    print(f"  attempts/s (whole process)     {n / first.wall_s:8.0f}")
    ok_rss = first.peak_rss_mb < RSS_TARGET_MB
    print(
        f"  peak RSS of harness process    {first.peak_rss_mb:8.0f} MB   "
        f"target < {RSS_TARGET_MB:.0f} MB: {verdict(ok_rss)}"
    )
    ok_rows = rows == n and distinct == n
    print(
        f"  store rows                     {rows:8d}      "
        f"target exactly {n}: {verdict(ok_rows)}  statuses {statuses}"
    )
    if resume is not None:
        ok_resume = resume.peak_rss_mb < RSS_TARGET_MB
        print(
            f"  resume of the finished run     {resume.wall_s:8.1f} s, peak RSS "
            f"{resume.peak_rss_mb:.0f} MB: {verdict(ok_resume)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
