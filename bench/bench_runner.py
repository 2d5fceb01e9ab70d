"""Runner throughput against the latency bound, measured side by side in one run.

The in-repo server runs in its own process with a fixed latency. Each round times, one after
the other on the same server: a bare aiohttp loop (the floor for any Python client here), a bare
loop over the httpx transport the harness uses, and the harness itself in a fresh interpreter
(config and suite load, plan, provider, retries, keyword grading, SQLite writes), whose peak
RSS is its own, and `harness run CONFIG` as a command, with its report and with --no-report,
each from launch to exit beside the bare aiohttp loop as a command of its own (a fresh
interpreter that imports aiohttp, sends and exits). Figures are the median over rounds, because
this 2-core machine is shared and noisy; every round is printed too. Then the same at zero
latency, for the CPU cost per attempt.

Targets (issue 10): `harness run` with its report, launch to exit, at most 1.3x the ideal at
2,000 requests (concurrency 64, 50 ms) and at most 1.15x at 20,000.

Usage: python bench/bench_runner.py [--requests 2000] [--concurrency 64] [--latency 0.05]
                                    [--rounds 5] [--default-transport] [--no-zero]

--default-transport also times a bare loop on httpx's own default transport (about 12x the
ideal at this concurrency, which is why the harness does not use it); it takes ~20 s a round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml

from harness.providers import make_transport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import compile_bytecode

BARE_COMMAND = "bare aiohttp command: launch to exit"
WITH_REPORT = "`harness run` with report: launch to exit"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.testing", "--port=0", f"--latency={latency}", "--no-log"],
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


async def _loop(requests: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> None:
        async with gate:
            await one()

    started = time.perf_counter()  # connections opened on the way, as the harness opens them
    await asyncio.gather(*(gated() for _ in range(requests)))
    return time.perf_counter() - started


async def bare_aiohttp(url: str, requests: int, concurrency: int) -> float:
    body = json.dumps(BODY).encode()
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(f"{url}/chat/completions", data=body, headers=headers) as r:
                json.loads(await r.read())

        return await _loop(requests, concurrency, one)


async def bare_transport(url: str, requests: int, concurrency: int, default: bool) -> float:
    """httpx requests straight through a transport, as the harness's providers send them."""
    if default:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(limits=limits)
    else:
        transport = make_transport(concurrency)
    target = httpx.URL(f"{url}/chat/completions")
    headers = httpx.Headers({"content-type": "application/json"})
    timeout = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), 60.0)}
    async with transport:

        async def one() -> None:
            content = json.dumps(BODY).encode()
            request = httpx.Request(
                "POST", target, headers=headers, content=content, extensions=timeout
            )
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            json.loads(response.content)

        return await _loop(requests, concurrency, one)


def write_experiment(directory: Path, base_url: str, requests: int, concurrency: int) -> Path:
    suite = directory / "suite.jsonl"
    suite.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": f"prompt number {i}", "harmful": True}) + "\n"
            for i in range(requests)
        )
    )
    config = {
        "name": "bench",
        "models": {
            "m": {
                "provider": "openai",
                "model": "m",
                "base_url": base_url,
                "concurrency": concurrency,
                "params": {"max_tokens": 8},
            }
        },
        "deployments": {"raw": {}},
        "configurations": [{"model": "m", "deployment": "raw"}],
        "suites": [{"name": "s", "source": str(suite)}],
        "graders": [{"name": "refusal_keywords"}],
        "output": str(directory / "run"),
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def harness_child(config: str, started_ns: int) -> None:
    """Runs in a fresh interpreter: the run as `harness run` does it, then its own figures."""
    imported = time.perf_counter()
    from harness.config import load_config
    from harness.runner import RunOptions, run_experiment

    imports = time.perf_counter() - imported
    started = time.perf_counter()
    cpu = time.process_time()
    summary, _ = asyncio.run(
        run_experiment(load_config(config), options=RunOptions(progress=False))
    )
    result = {
        "phase": summary.elapsed_s,  # send, grade and store, from the first request on
        "run": time.perf_counter() - started,  # and config, suites, plan, indexes
        "since_launch": (time.time_ns() - started_ns) / 1e9,  # and interpreter and imports
        "imports": imports,
        "cpu": time.process_time() - cpu,
        "sent": summary.finished,
        "statuses": dict(summary.statuses),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(result))


def run_harness(base_url: str, requests: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = write_experiment(Path(tmp), base_url, requests, concurrency)
        command = [sys.executable, __file__, "--child", str(config), str(time.time_ns())]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["sent"] != requests or set(result["statuses"]) != {"OK"}:
        raise RuntimeError(f"the harness did not send every request OK: {result}")
    return result


def run_cli(base_url: str, requests: int, concurrency: int, *, report: bool) -> float:
    """`harness run CONFIG [--no-report]` as a user types it: process launch to exit."""
    with tempfile.TemporaryDirectory() as tmp:
        config = write_experiment(Path(tmp), base_url, requests, concurrency)
        command = [sys.executable, "-m", "harness", "run", str(config)]
        command += [] if report else ["--no-report"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode != 0 or f"sent {requests} (OK={requests})" not in done.stderr:
        raise RuntimeError(f"harness run failed: {done.stderr[-500:]}")
    if report and "## Per configuration" not in done.stdout:
        raise RuntimeError(f"harness run printed no report: {done.stdout[-500:]}")
    return wall


# the bare aiohttp loop as a program of its own: it imports what it uses and nothing else
BARE_PROGRAM = """
import asyncio, json, sys
import aiohttp

async def main(url, requests, concurrency):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 8}).encode()
    headers = {"content-type": "application/json"}
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one():
            async with gate:
                async with session.post(url + "/chat/completions", data=body,
                                        headers=headers) as r:
                    json.loads(await r.read())
        await asyncio.gather(*(one() for _ in range(requests)))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def bare_cli(base_url: str, requests: int, concurrency: int) -> float:
    """The bare aiohttp loop as a command: a fresh interpreter, its imports, the loop, exit."""
    command = [sys.executable, "-c", BARE_PROGRAM, base_url, str(requests), str(concurrency)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(args: argparse.Namespace, latency: float) -> dict[str, list[float]]:
    n, c = args.requests, args.concurrency
    rows: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        rows.setdefault(name, []).append(seconds)

    with fake_server(latency) as url:
        for _ in range(args.rounds):
            add("bare aiohttp loop", asyncio.run(bare_aiohttp(url, n, c)))
            add(
                "bare httpx loop, harness's transport",
                asyncio.run(bare_transport(url, n, c, False)),
            )
            if args.default_transport:
                add(
                    "bare httpx loop, httpx's default", asyncio.run(bare_transport(url, n, c, True))
                )
            result = run_harness(url, n, c)
            add("harness: send, grade, store", result["phase"])
            add("harness run: config load to last write", result["run"])
            add("harness process: launch to last write", result["since_launch"])
            add(BARE_COMMAND, bare_cli(url, n, c))
            add("`harness run --no-report`: launch to exit", run_cli(url, n, c, report=False))
            add(WITH_REPORT, run_cli(url, n, c, report=True))
            add("_rss", result["peak_rss_mb"])
            add("_cpu", result["cpu"])
            add("_imports", result["imports"])
    return rows


def report(rows: dict[str, list[float]], ideal: float | None, n: int) -> None:
    for name, values in rows.items():
        if name.startswith("_"):
            continue
        median = statistics.median(values)
        each = " ".join(f"{v:.2f}" for v in values)
        against = f"{median / ideal:5.2f} x ideal" if ideal else f"{median / n * 1e3:6.3f} ms/req"
        print(f"  {name:42} {median:6.2f} s  {against}   rounds: {each}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--default-transport", action="store_true")
    parser.add_argument("--no-zero", action="store_true", help="skip the zero-latency rounds")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        harness_child(args.child[0], int(args.child[1]))
        return
    n, c, latency = args.requests, args.concurrency, args.latency
    ideal = n * latency / c
    compile_bytecode(sys.executable)  # as an installed harness is: see bench_startup
    print(
        f"{n} requests, concurrency {c}, server latency {latency * 1000:.0f} ms, "
        f"{args.rounds} rounds, {os.cpu_count()} cores; medians"
    )
    print(f"  {'ideal (requests x latency / concurrency)':42} {ideal:6.2f} s   1.00 x ideal")
    rows = measure(args, latency)
    report(rows, ideal, n)
    full, bare = rows[WITH_REPORT], rows[BARE_COMMAND]
    ratios = [f / b for f, b in zip(full, bare, strict=True)]
    print(
        f"  `harness run` with report: {statistics.median(full) / ideal:.2f} x ideal; "
        f"{statistics.median(ratios):.2f} x the bare aiohttp command of the same round "
        f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})"
    )
    rss, cpu, imports = rows["_rss"], rows["_cpu"], rows["_imports"]
    cpu_s = statistics.median(cpu)
    print(
        f"  harness peak RSS {max(rss):.0f} MB (max over rounds); CPU {cpu_s:.2f} s = "
        f"{cpu_s / n * 1e3:.3f} ms per attempt; imports {statistics.median(imports):.2f} s"
    )
    if args.no_zero:
        return
    print("zero latency (CPU cost per request and per attempt):")
    zero = measure(args, 0.0)
    report(zero, None, n)
    print(
        f"  harness CPU {statistics.median(zero['_cpu']) / n * 1e3:.3f} ms per attempt, "
        f"peak RSS {max(zero['_rss']):.0f} MB"
    )


if __name__ == "__main__":
    main()
