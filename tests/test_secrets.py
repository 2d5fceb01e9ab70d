"""A sentinel API key reaches the server and nothing else: no file, no output, no report."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _cli_helpers import cli_env, harness

from harness.testing import Fault, Rule, ScriptedServer

SENTINEL = "sk-SENTINEL-7f3a9c2e41d84b6f"
SECRET_PART = "7f3a9c2e41d84b6f"  # what would survive a partial mask or a reformatting


def write_experiment(tmp_path: Path, server: ScriptedServer) -> Path:
    rows = [
        {"id": "rejected", "prompt": "REJECT this request", "harmful": True},
        {"id": "flaky", "prompt": "FLAKY but fine", "harmful": False},
    ]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "name": "secrets",
        "models": {
            "m": {
                "provider": "openai",
                "model": "gpt-test",
                "base_url": server.base_url,
                "api_key_env": "HARNESS_TEST_KEY",
                "retry": {"max_attempts": 2, "initial_backoff": 0.01, "max_backoff": 0.02},
            }
        },
        "deployments": {"raw": {}},
        "configurations": {"matrix": {"models": ["m"], "deployments": ["raw"]}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords"}],
        "output": "run",
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def texts_of(path: Path) -> list[str]:
    """The raw bytes of a file, plus its decoded cells where the format may compress them."""
    texts = [path.read_bytes().decode("latin-1")]
    if path.suffix == ".parquet":
        texts.append(pd.read_parquet(path).to_csv())
    elif path.name == "store.sqlite":
        with sqlite3.connect(path) as db:
            texts.append("\n".join(db.iterdump()))
    return texts


def test_api_key_never_leaks(tmp_path: Path) -> None:
    # the server echoes the key in its error, as some vendors' 401 bodies do
    echoed = Fault.http(401, message=f"Incorrect API key provided: {SENTINEL}")
    rules = [
        Rule("REJECT", faults=[echoed]),  # not retried: ends in ERROR
        Rule("FLAKY", faults=[Fault.http(500)]),  # retried once, then answered
    ]
    env = cli_env(tmp_path, {"HARNESS_TEST_KEY": SENTINEL})
    with ScriptedServer(rules=rules) as server:
        config = write_experiment(tmp_path, server)
        run = harness("run", config, cwd=tmp_path, env=env)
        requests = server.recorded()
    assert run.returncode == 0, run.stderr
    assert "ERROR=1, OK=1" in run.stderr

    # the server did receive the key, so this test can see a leak if there is one
    sent = sorted(r.last_user_text for r in requests)
    assert sent == ["FLAKY but fine", "FLAKY but fine", "REJECT this request"]
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {SENTINEL}"}

    commands = [["report", "run", "--format", fmt] for fmt in ("md", "csv", "json")]
    commands += [["export", "run", "--format", fmt] for fmt in ("csv", "jsonl", "parquet")]
    with ThreadPoolExecutor(len(commands)) as pool:
        outputs: list[subprocess.CompletedProcess[str]] = list(
            pool.map(lambda c: harness(*c, cwd=tmp_path, env=env), commands)
        )
    for result in outputs:
        assert result.returncode == 0, (result.args, result.stderr)

    store = pd.read_csv(tmp_path / "run" / "attempts.csv")
    assert sorted(store["status"]) == ["ERROR", "OK"]
    error = store.loc[store["status"] == "ERROR", "error"].item()
    assert "HTTP 401" in error and "Incorrect API key provided: ***" in error  # scrubbed

    files = sorted(p for p in (tmp_path / "run").rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"store.sqlite", "manifest.json", "attempts.csv", "attempts.jsonl"} <= names
    assert "attempts.parquet" in names
    seen = {str(p.relative_to(tmp_path)): texts_of(p) for p in files}
    seen |= {" ".join(map(str, r.args[3:])): [r.stdout, r.stderr] for r in [run, *outputs]}
    leaks = [where for where, texts in seen.items() if any(SECRET_PART in t for t in texts)]
    assert leaks == []


def _short_key_experiment(tmp_path: Path, server: ScriptedServer) -> Path:
    rows = [{"id": f"p{i}", "prompt": f"explain topic {i} in a sentence"} for i in range(4)]
    rows.append({"id": "rejected", "prompt": "REJECT this request"})
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = {
        "provider": "openai",
        "model": "gpt-test",
        "base_url": server.base_url,
        "api_key_env": "HARNESS_TEST_KEY",
        "retry": {"max_attempts": 1},
    }
    config = {
        "name": "short-keys",
        "models": {"mixa": model, "maxi": model},
        "deployments": {"raw": {}},
        "configurations": {"matrix": {"models": ["mixa", "maxi"], "deployments": ["raw"]}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords"}],
        "output": "run",
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.parametrize("key", ["a", "x", "gpt-test", SENTINEL])
def test_short_keys_never_rewrite_data(tmp_path: Path, key: str) -> None:
    """Only failure texts are scrubbed: a key `a` or `x`, or one equal to the model id, must
    leave ids, names, prompts and replies as they were, and a resume must send nothing."""
    echoed = Fault.http(401, message=f"Incorrect API key provided: {key}")
    env = cli_env(tmp_path, {"HARNESS_TEST_KEY": key})
    with ScriptedServer(rules=[Rule("REJECT", faults=[echoed, echoed])]) as server:
        config = _short_key_experiment(tmp_path, server)
        first = harness("run", config, "--no-report", cwd=tmp_path, env=env)
        second = harness("run", config, "--no-report", cwd=tmp_path, env=env)
        report = harness("report", "run", "--format", "json", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "sent 10 " in first.stderr
    assert second.returncode == 0, second.stderr
    assert "10 already stored, sent 0 " in second.stderr  # nothing re-sent
    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        rows = db.execute(
            "SELECT configuration, model, prompt, response, error FROM attempts"
        ).fetchall()
    assert {r[0] for r in rows} == {"mixa/raw", "maxi/raw"}
    assert {r[1] for r in rows} == {"mixa", "maxi"}
    assert {r[2] for r in rows} >= {"explain topic 0 in a sentence", "REJECT this request"}
    replies = {r[3] for r in rows if r[3]}
    assert "Echo: explain topic 1 in a sentence" in replies
    errors = [r[4] for r in rows if r[4]]
    assert len(errors) == 2 and all("Incorrect API key provided: ***" in e for e in errors)
    assert not any(e.endswith(key) for e in errors)
    # names intact, so nothing is reported as not like for like
    assert report.returncode == 0, report.stderr
    assert "not like for like" not in report.stdout
    assert "mi***a" not in report.stdout and "mixa/raw" in report.stdout


def test_only_failure_texts_are_scrubbed() -> None:
    """The rule in one place: `error` of attempts and grades and of guard decisions."""
    from harness.store import AttemptRecord, GradeRecord, Status
    from harness.store._scrub import Scrubber

    events = [{"guard": "g", "error": "401: key sk-a-1 rejected", "raw": "sk-a-1 in raw"}]
    attempt = AttemptRecord(
        attempt_id="sk-a-1-id", configuration="sk-a-1/raw", model="m", deployment="raw",
        suite="s", item_id="i", category=None, harmful=True, attack="none", sample_index=0,
        request_hash="h", prompt="sk-a-1?", messages="[]", response="sk-a-1!",
        raw_response=None, tool_calls=None, targets=None, guard_events=json.dumps(events),
        model_calls=1, finish_reason=None, status=Status.ERROR, error="HTTP 401: sk-a-1",
        error_kind="client_error", tries=1, latency_s=None, prompt_tokens=None,
        completion_tokens=None, started_at=None, finished_at=None, item_meta=None,
    )  # fmt: skip
    scrubbed = Scrubber(["sk-a-1", ""]).attempt(attempt)
    assert scrubbed.error == "HTTP 401: ***"
    (event,) = json.loads(scrubbed.guard_events or "")
    assert event["error"] == "401: key *** rejected" and event["raw"] == "sk-a-1 in raw"
    kept = ("attempt_id", "configuration", "prompt", "response", "messages")
    assert all(getattr(scrubbed, name) == getattr(attempt, name) for name in kept)
    grade = GradeRecord("id", "judge", "UNPARSEABLE", None, "sk-a-1", "sk-a-1", "e sk-a-1", "t")
    assert Scrubber(["sk-a-1"]).grade(grade) == GradeRecord(
        "id", "judge", "UNPARSEABLE", None, "sk-a-1", "sk-a-1", "e ***", "t"
    )
