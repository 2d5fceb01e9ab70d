"""Bad input through the real CLI: exit 2 and one `error:` line naming the file/field, no trace."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from _cli_helpers import assert_user_error, cli_env, harness


def base_config() -> dict[str, Any]:
    return {
        "name": "t",
        "models": {"m": {"provider": "openai", "model": "gpt-test"}},
        "deployments": {"raw": {}},
        "configurations": {"matrix": {"models": ["m"], "deployments": ["raw"]}},
        "suites": [{"name": "core", "source": "suite.jsonl"}],
        "graders": [{"name": "refusal_keywords"}],
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    rows = [{"id": "a", "prompt": "Hello?", "harmful": False}]
    (tmp_path / "suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def validate(workdir: Path, change: Callable[[dict[str, Any]], object]) -> Any:
    raw = base_config()
    change(raw)
    (workdir / "exp.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = cli_env(workdir)
    env.pop("SOME_UNSET_VAR", None)
    return harness("validate", "exp.yaml", cwd=workdir, env=env)


def test_valid_config_validates(workdir: Path) -> None:
    result = validate(workdir, lambda raw: None)
    assert result.returncode == 0, result.stderr
    assert "1 configurations x 1 items x 1 samples = 1 requests" in result.stdout


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        pytest.param(
            lambda r: r["models"]["m"].update(paramz={}),
            ["models.m.paramz", "unknown key 'paramz'", "did you mean 'params'?"],
            id="unknown-key",
        ),
        pytest.param(
            lambda r: r["models"]["m"].update(concurrency="many"),
            ["models.m.concurrency", "valid integer"],
            id="wrong-type",
        ),
        pytest.param(
            lambda r: r["models"]["m"].update(provider="openia"),
            ["models.m.provider", "'openai', 'anthropic' or 'llamacpp'"],
            id="unknown-provider",
        ),
        pytest.param(
            lambda r: r.update(configurations=[{"model": "gpt", "deployment": "raw"}]),
            ["configurations", "unknown model 'gpt'"],
            id="undefined-model",
        ),
        pytest.param(
            lambda r: r["models"]["m"].update(api_key_env="SOME_UNSET_VAR"),
            ["models.m.api_key_env", "SOME_UNSET_VAR is not set"],
            id="missing-api-key",
        ),
        pytest.param(
            lambda r: r["suites"][0].update(source="absent.jsonl"),
            ["suites[0].source", "absent.jsonl", "not found"],
            id="missing-suite-file",
        ),
        pytest.param(
            lambda r: r["suites"][0].update(source="exp.yaml", format="jsonl"),
            ["suites[0].source", "cannot parse"],
            id="unparseable-suite-file",
        ),
        pytest.param(
            lambda r: r["suites"][0].update(columns={"prompt": "goal"}),
            ["suites[0].columns.prompt", "column 'goal' not found"],
            id="missing-suite-column",
        ),
    ],
)
def test_config_errors(
    workdir: Path, change: Callable[[dict[str, Any]], object], needles: list[str]
) -> None:
    result = validate(workdir, change)
    assert_user_error(result, "exp.yaml", *needles)


def test_missing_config_file(tmp_path: Path) -> None:
    result = harness("validate", "absent.yaml", cwd=tmp_path)
    assert_user_error(result, "absent.yaml", "config file not found")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("name: t\nsamples: 1\n  seed: 2\n", encoding="utf-8")
    result = harness("validate", "exp.yaml", cwd=tmp_path)
    assert_user_error(result, "exp.yaml", "line 3, column 7", "YAML syntax error")


def test_report_on_missing_directory(tmp_path: Path) -> None:
    result = harness("report", "no-such-run", cwd=tmp_path)
    assert_user_error(result, "no-such-run", "no run store here")


def test_export_unknown_format(tmp_path: Path) -> None:
    result = harness("export", tmp_path, "--format", "xml", cwd=tmp_path)
    assert_user_error(result, "--format", "'xml'", "csv, jsonl, parquet")


def test_grade_unknown_grader_suggests_closest(tmp_path: Path) -> None:
    (tmp_path / "done.jsonl").write_text(
        json.dumps({"prompt": "Hi?", "response": "Hello."}) + "\n", encoding="utf-8"
    )
    env = cli_env(tmp_path)
    assert harness("import", "done.jsonl", "--out", "run", cwd=tmp_path, env=env).returncode == 0
    result = harness("grade", "run", "--grader", "refusal_keyword", cwd=tmp_path, env=env)
    assert_user_error(
        result, "unknown grader 'refusal_keyword'", "did you mean 'refusal_keywords'?"
    )


def test_grade_malformed_option(tmp_path: Path) -> None:
    result = harness("grade", "run", "--option", "list=xstest", cwd=tmp_path)
    assert_user_error(result, "--option", "malformed option")
