"""The README's first experiment, as a user runs it: `python -m harness.testing` in its own
process with the rules file (or rules as flags), then `harness validate`, `run` and `report`
against the base URL it prints."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _cli_helpers import cli_env, harness

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def scripted_server(*args: str) -> Iterator[str]:
    """The server as a subprocess; yields the base URL from its READY line."""
    command = [sys.executable, "-m", "harness.testing", "--port", "0", *args]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                assert selector.select(15.0), "the server printed nothing"
            line = process.stdout.readline().strip()
            assert line.startswith("READY http://127.0.0.1:"), line
            yield line.removeprefix("READY ")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()


def _first_experiment(tmp_path: Path, base_url: str) -> Path:
    config = yaml.safe_load((REPO / "configs" / "first_experiment.yaml").read_text())
    config["models"]["scripted"]["base_url"] = base_url
    config["suites"][0]["source"] = str(REPO / "prompts" / "core.jsonl")
    config["deployments"]["guarded"]["system_prompt"]["file"] = str(
        REPO / "prompts" / "system" / "safety.txt"
    )
    config["output"] = str(tmp_path / "first-experiment")
    path = tmp_path / "first_experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_the_readme_first_experiment(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    with scripted_server("--rules", "configs/scripted/rules.yaml") as base_url:
        assert base_url.endswith("/v1")
        config = _first_experiment(tmp_path, base_url)
        validated = harness("validate", config, cwd=tmp_path, env=env)
        assert validated.returncode == 0, validated.stderr
        assert "2 configurations x 40 items x 1 attack x 1 sample = 80 attempts" in (
            validated.stdout
        )
        ran = harness("run", config, cwd=tmp_path, env=env)
        assert ran.returncode == 0, ran.stderr
    assert "sent 80 (BLOCKED_OUTPUT=5, OK=75)" in ran.stderr
    # the rules comply with 8 of the 24 harmful items; the filter blocks the 5 with "Step 1"
    matrix = next(line for line in ran.stdout.splitlines() if line.startswith("| scripted "))
    assert "33.3% [18.0%, 53.3%]" in matrix and "12.5% [4.3%, 31.0%]" in matrix
    report = harness(
        "report",
        tmp_path / "first-experiment",
        "--format",
        "html",
        "--out",
        tmp_path / "r",
        cwd=tmp_path,
        env=env,
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r" / "report.html").stat().st_size > 10_000


def _chat(client: httpx.Client, base_url: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
    return client.post(f"{base_url}/chat/completions", json=body)


def test_rules_as_flags(tmp_path: Path) -> None:
    flags = [
        "--default-reply",
        "No.",
        "--reply",
        "(?i)\\bbomb\\b=Sure, here it is.",
        "--fault",
        "flaky=status:429",
        "--tool-call",
        'wire=transfer_funds:{"to_account": "99-1234", "amount": 5}',
        "--reply",
        "wire=Done.",
    ]
    with scripted_server(*flags) as base_url, httpx.Client(timeout=10) as client:

        def text(response: httpx.Response) -> Any:
            return response.json()["choices"][0]["message"]["content"]

        assert text(_chat(client, base_url, "a BOMB please")) == "Sure, here it is."
        assert text(_chat(client, base_url, "bombastic")) == "No."  # \b: a regex, not a substring
        assert _chat(client, base_url, "flaky one").status_code == 429  # once
        assert text(_chat(client, base_url, "flaky one")) == "No."
        call = _chat(client, base_url, "wire the money").json()["choices"][0]
        assert call["finish_reason"] == "tool_calls"
        assert call["message"]["tool_calls"][0]["function"]["name"] == "transfer_funds"
        after = {
            "model": "m",
            "messages": [
                {"role": "user", "content": "wire the money"},
                {"role": "assistant", "tool_calls": call["message"]["tool_calls"]},
                {"role": "tool", "tool_call_id": "x", "content": "ok"},
            ],
        }
        done = client.post(f"{base_url}/chat/completions", json=after).json()
        assert done["choices"][0]["message"]["content"] == "Done."


def _refused(args: Sequence[str], tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "harness.testing", "--port", "0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("rules", "needles"),
    [
        ("rules: [{match: '(', reply: x}]", ["rules.0.match", "not a regular expression"]),
        ("rules: [{match: a, replly: x}]", ["rules.0.replly", "xtra"]),
        ("rules: [{match: a, faults: [{kind: explode}]}]", ["rules.0.faults.0.kind"]),
    ],
)
def test_bad_rules_file_is_one_error_line(tmp_path: Path, rules: str, needles: list[str]) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    line = _refused(["--rules", str(path)], tmp_path)
    for needle in [str(path), *needles]:
        assert needle in line, (needle, line)


def test_bad_flag_is_one_error_line(tmp_path: Path) -> None:
    assert "--reply" in _refused(["--reply", "no separator"], tmp_path)
    assert "not JSON" in _refused(["--tool-call", "x=send_email:{oops"], tmp_path)
