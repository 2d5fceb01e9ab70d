"""Runner throughput against the latency bound, measured side by side in one run.

The in-repo server runs in its own process with a fixed latency. We time, in this order:
the ideal (requests × latency / concurrency), a bare httpx loop on its default transport, a bare
httpx loop over httpx-aiohttp (the transport the harness uses), and the harness itself end to end
(plan, provider, retries, keyword grading and batched SQLite writes), in a child process so its
peak RSS is its own. Usage: python bench/bench_runner.py [--requests 2000] [--concurrency 64]
[--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from httpx_aiohttp import AiohttpTransport


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
            "--no-log",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split()[1] + "/v1"
    finally:
        process.terminate()
        process.wait()


async def bare_loop(base_url: str, requests: int, concurrency: int, aiohttp: bool) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = AiohttpTransport(limits=limits) if aiohttp else None
    gate = asyncio.Semaphore(concurrency)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    async with httpx.AsyncClient(transport=transport, limits=limits, timeout=60) as client:

        async def one() -> None:
            async with gate:
                response = await client.post(f"{base_url}/chat/completions", json=body)
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return time.perf_counter() - started


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


def harness_child(config: str) -> None:
    """Runs in a fresh interpreter: time the run itself, then report peak RSS."""
    from harness.config import load_config
    from harness.runner import RunOptions, run_experiment

    started = time.perf_counter()
    summary, _ = asyncio.run(
        run_experiment(load_config(config), options=RunOptions(progress=False))
    )
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "wall": wall,
                "run": summary.elapsed_s,
                "sent": summary.finished,
                "statuses": dict(summary.statuses),
                "peak_rss_mb": peak_mb,
            }
        )
    )


def run_harness(base_url: str, requests: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = write_experiment(Path(tmp), base_url, requests, concurrency)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
        process_wall = time.perf_counter() - started
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall"] = process_wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        harness_child(args.child)
        return
    n, c, latency = args.requests, args.concurrency, args.latency
    ideal = n * latency / c
    with fake_server(latency) as url:
        default = asyncio.run(bare_loop(url, n, c, aiohttp=False))
        aio = asyncio.run(bare_loop(url, n, c, aiohttp=True))
        harness = run_harness(url, n, c)
    with fake_server(0.0) as url:
        zero = run_harness(url, n, c)
    rows = [
        ("ideal (requests x latency / concurrency)", ideal),
        ("bare httpx loop, default transport", default),
        ("bare httpx loop, httpx-aiohttp transport", aio),
        ("harness send+grade+store phase", harness["run"]),
        ("harness run incl. config and suite load", harness["wall"]),
        ("harness process incl. interpreter start", harness["process_wall"]),
    ]
    print(f"{n} requests, concurrency {c}, server latency {latency * 1000:.0f} ms")
    for label, seconds in rows:
        print(f"  {label:44} {seconds:7.2f} s   {seconds / ideal:5.2f} x ideal")
    print(f"  harness statuses {harness['statuses']}, peak RSS {harness['peak_rss_mb']:.0f} MB")
    per_attempt = zero["run"] / n * 1000
    print(
        f"  zero latency: harness {zero['run']:.2f} s for {n} = {per_attempt:.2f} ms per attempt"
        f" (peak RSS {zero['peak_rss_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
