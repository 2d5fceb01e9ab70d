"""How fast `harness` starts and finishes: --help, launch to first request, the end-of-run report.

Three figures, each the median over rounds of a fresh process (this 2-core machine is shared
and noisy: every round is printed too, and the load average before and after):

- `harness --help`, launch to exit;
- `harness run` on 2,000 items (concurrency 64, 50 ms), from launch to the first request the
  in-repo server (in this process, recording) receives;
- that run's end-of-run report: from the summary line on stderr (the last attempt is stored)
  to the exit, with the report and the graders' agreement printed;
- the CPU seconds (user + system, from /proc) the `harness run` process had used when its first
  request arrived: on a busy machine the wall times above mostly measure the wait for a core,
  this does not (it leaves out what runs in parallel, e.g. the CA loading of the HTTP stack on
  a second thread, so it is not a wall-time bound).

Targets (issue 10): --help under 0.3 s, first request under 0.4 s, report under 0.25 s.

Usage: python bench/bench_startup.py [--rounds 7] [--requests 2000] [--python EXE]
(--python: another interpreter with harness installed, e.g. to time another checkout)

The harness's own modules are byte-compiled first, as an installed package is (and as an
editable install is after its first run): with PYTHONDONTWRITEBYTECODE set and no
`__pycache__`, every start would compile ~90 modules from source, ~0.3 s of CPU that no user
pays after the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from harness.testing import ScriptedServer


def _config(directory: Path, base_url: str, requests: int) -> Path:
    suite = directory / "suite.jsonl"
    suite.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": f"prompt number {i}", "harmful": True}) + "\n"
            for i in range(requests)
        )
    )
    config = {
        "name": "startup",
        "models": {
            "m": {
                "provider": "openai",
                "model": "m",
                "base_url": base_url,
                "concurrency": 64,
                "params": {"max_tokens": 8},
            }
        },
        "deployments": {"raw": {}},
        "configurations": [{"model": "m", "deployment": "raw"}],
        "suites": [{"name": "s", "source": str(suite)}],
        "graders": [{"name": "refusal_keywords"}],
        "output": str(directory / "run"),
    }
    path = directory / "startup.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def compile_bytecode(python: str) -> None:
    """Byte-compile the harness package `python` imports (see the module docstring)."""
    code = (
        "import compileall, harness, os; "
        "compileall.compile_dir(os.path.dirname(harness.__file__), quiet=1)"
    )
    subprocess.run([python, "-c", code], check=True, capture_output=True, cwd=tempfile.gettempdir())


def time_help(python: str) -> float:
    started = time.perf_counter()
    # out of any checkout: `-m` would import a `harness` directory in the working directory
    subprocess.run(
        [python, "-m", "harness", "--help"],
        check=True,
        capture_output=True,
        cwd=tempfile.gettempdir(),
    )
    return time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux); NaN where /proc cannot say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_run(
    python: str, server: ScriptedServer, requests: int
) -> tuple[float, float, float, float]:
    """(launch to first request, end-of-run report, launch to exit, CPU seconds at the first
    request) of one `harness run`."""
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), server.base_url, requests)
        server.reset_log()
        launched = time.time()
        process = subprocess.Popen(
            [python, "-m", "harness", "run", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp,
        )
        assert process.stderr is not None and process.stdout is not None
        cpu_at_first = [float("nan")]

        def watch() -> None:
            while not server.recorded() and process.poll() is None:
                time.sleep(0.001)
            cpu_at_first[0] = _cpu_seconds(process.pid)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        summary_at = None
        for line in process.stderr:
            if " planned, " in line and summary_at is None:
                summary_at = time.time()
        out = process.stdout.read()
        watcher.join()
        process.wait()
        exited = time.time()
    if process.returncode != 0 or summary_at is None or "## Per configuration" not in out:
        raise RuntimeError(f"harness run failed ({process.returncode}): {out[-300:]}")
    first = min(r.received_at for r in server.recorded())
    return first - launched, exited - summary_at, exited - launched, cpu_at_first[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    print(f"{args.python}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    compile_bytecode(args.python)
    rows: dict[str, list[float]] = {}
    with ScriptedServer(latency=0.05) as server:
        for _ in range(args.rounds):
            rows.setdefault("`harness --help`", []).append(time_help(args.python))
            first, report, total, cpu = time_run(args.python, server, args.requests)
            rows.setdefault("`harness run`: launch to first request", []).append(first)
            rows.setdefault("`harness run`: end-of-run report", []).append(report)
            rows.setdefault("`harness run`: launch to exit", []).append(total)
            rows.setdefault("`harness run`: CPU s at its first request", []).append(cpu)
    for name, values in rows.items():
        each = " ".join(f"{v:.3f}" for v in values)
        print(f"  {name:42} median {statistics.median(values):6.3f} s   rounds: {each}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
