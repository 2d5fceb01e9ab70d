"""Bad input through the real CLI: exit 2 and one `error:` line naming the file/field, no trace.

Every case is a real `python -m harness` subprocess; they start together (a module fixture) so
the interpreter start-ups overlap.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli_helpers import assert_user_error, cli_env, harness

Change = Callable[[dict[str, Any]], object]


def base_config() -> dict[str, Any]:
    return {
        "name": "t",
        "models": {"m": {"provider": "openai", "model": "gpt-test"}},
        "deployments": {"raw": {}},
        "configurations": {"matrix": {"models": ["m"], "deployments": ["raw"]}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords"}],
    }


@dataclass(frozen=True)
class Case:
    needles: list[str]
    change: Change | None = None  # validate exp.yaml made from base_config() so changed
    commands: list[list[str]] = field(default_factory=list)  # or run these; the last must fail


CASES: dict[str, Case] = {
    "unknown-key": Case(
        ["exp.yaml", "models.m.paramz", "unknown key 'paramz'", "did you mean 'params'?"],
        lambda r: r["models"]["m"].update(paramz={}),
    ),
    "wrong-type": Case(
        ["exp.yaml", "models.m.concurrency", "valid integer"],
        lambda r: r["models"]["m"].update(concurrency="many"),
    ),
    "unknown-provider": Case(
        ["exp.yaml", "models.m.provider", "'openai', 'anthropic' or 'llamacpp'"],
        lambda r: r["models"]["m"].update(provider="openia"),
    ),
    "undefined-model": Case(
        ["exp.yaml", "configurations", "unknown model 'gpt'"],
        lambda r: r.update(configurations=[{"model": "gpt", "deployment": "raw"}]),
    ),
    "missing-api-key": Case(  # validate warns (tests/test_validate.py); run refuses
        ["exp.yaml", "models.m.api_key_env", "SOME_UNSET_VAR is not set"],
        lambda r: r["models"]["m"].update(api_key_env="SOME_UNSET_VAR"),
        commands=[["run", "exp.yaml"]],
    ),
    "missing-suite-file": Case(
        ["exp.yaml", "suites[0].source", "absent.jsonl", "not found"],
        lambda r: r["suites"][0].update(source="absent.jsonl"),
    ),
    "unparseable-suite-file": Case(
        ["exp.yaml", "suites[0].source", "cannot parse", "bad.jsonl", "JSON parse error"],
        lambda r: r["suites"][0].update(source="bad.jsonl"),
    ),
    "missing-suite-column": Case(
        ["exp.yaml", "suites[0].columns.prompt", "column 'goal' not found"],
        lambda r: r["suites"][0].update(columns={"prompt": "goal"}),
    ),
    "missing-config-file": Case(
        ["absent.yaml", "config file not found"], commands=[["validate", "absent.yaml"]]
    ),
    "yaml-syntax-error": Case(
        ["broken.yaml", "line 3, column 7", "YAML syntax error"],
        commands=[["validate", "broken.yaml"]],
    ),
    "report-missing-run": Case(
        ["no-such-run", "no run store here"], commands=[["report", "no-such-run"]]
    ),
    "export-unknown-format": Case(
        ["--format", "'xml'", "csv, jsonl, parquet"],
        commands=[["export", "run", "--format", "xml"]],
    ),
    "grade-unknown-grader": Case(
        ["graders[0].name", "unknown grader 'refusal_keyword'", "did you mean 'refusal_keywords'?"],
        commands=[["grade", "run", "--grader", "refusal_keyword"]],
    ),
    "grade-malformed-option": Case(
        ["--option", "malformed option 'list=xstest'"],
        commands=[["grade", "run", "--grader", "refusal_keywords", "--option", "list=xstest"]],
    ),
}


def prepare(folder: Path, case: Case) -> list[list[str]]:
    folder.mkdir()
    suite = {"id": "a", "prompt": "Hello?", "harmful": False}
    (folder / "suite.jsonl").write_text(json.dumps(suite) + "\n", encoding="utf-8")
    (folder / "bad.jsonl").write_text('{"prompt": "a"}\n{not json\n', encoding="utf-8")
    (folder / "broken.yaml").write_text("name: t\nsamples: 1\n  seed: 2\n", encoding="utf-8")
    raw = base_config()
    if case.change is not None:
        case.change(raw)
    (folder / "exp.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return case.commands or [["validate", "exp.yaml"]]


def run_case(folder: Path, case: Case) -> list[subprocess.CompletedProcess[str]]:
    env = cli_env(folder)
    env.pop("SOME_UNSET_VAR", None)
    return [harness(*command, cwd=folder, env=env) for command in prepare(folder, case)]


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, list[subprocess.CompletedProcess[str]]]:
    root = tmp_path_factory.mktemp("cli-errors")
    cases = {"valid": Case([]), **CASES}
    with ThreadPoolExecutor(4) as pool:
        futures = {name: pool.submit(run_case, root / name, c) for name, c in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def test_valid_config_validates(
    outcomes: dict[str, list[subprocess.CompletedProcess[str]]],
) -> None:
    (result,) = outcomes["valid"]
    assert result.returncode == 0, result.stderr
    assert "1 configuration x 1 item x 1 attack x 1 sample = 1 attempt" in result.stdout


@pytest.mark.parametrize("name", list(CASES))
def test_user_error(outcomes: dict[str, list[subprocess.CompletedProcess[str]]], name: str) -> None:
    *setup, result = outcomes[name]
    for step in setup:
        assert step.returncode == 0, step.stderr
    assert_user_error(result, *CASES[name].needles)
