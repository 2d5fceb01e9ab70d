"""The llama.cpp model lives in a worker process: a native crash becomes ERROR attempts.

The crashing worker is a real process that really dies of SIGSEGV (tests/_crashing_worker.py),
started by the real provider through HARNESS_LLAMACPP_WORKER; no mock stands in for the crash.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml
from _cli_helpers import assert_user_error, cli_env, harness

from harness.config import GenerationParams, ModelSpec
from harness.providers import ChatRequest, LlamaCppProvider, ModelCrashed

CRASHING = Path(__file__).with_name("_crashing_worker.py")


def _fake_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + bytes(64))  # the magic is all the provider checks itself
    return path


def _config(tmp_path: Path, prompts: list[str]) -> Path:
    suite = tmp_path / "suite.jsonl"
    suite.write_text(
        "".join(json.dumps({"id": f"p{i}", "prompt": p}) + "\n" for i, p in enumerate(prompts))
    )
    config = {
        "name": "crash",
        "models": {
            "local": {
                "provider": "llamacpp",
                "path": str(_fake_gguf(tmp_path)),
                "prompt_format": "base",
                "params": {"max_tokens": 8, "seed": 1},
            }
        },
        "deployments": {"raw": {}},
        "configurations": {"matrix": {"models": ["local"], "deployments": ["raw"]}},
        "suites": [{"name": "s", "source": str(suite)}],
        "graders": [{"name": "refusal_keywords", "primary": True}],
        "output": str(tmp_path / "run"),
    }
    path = tmp_path / "crash.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _statuses(run: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(run / "store.sqlite") as db:
        rows = db.execute("SELECT item_id, status, error_kind FROM attempts").fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return {item: (status, kind) for item, status, kind in rows}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    worker = f"{sys.executable} {CRASHING}"
    return cli_env(tmp_path, {"HARNESS_LLAMACPP_WORKER": worker, **extra})


def test_a_crash_mid_run_is_one_error_attempt_and_the_run_goes_on(tmp_path: Path) -> None:
    config = _config(tmp_path, ["hello", "please CRASH now", "goodbye"])
    result = harness("run", config, "--no-report", cwd=tmp_path, env=_env(tmp_path))
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert "model_crashed" in result.stderr and "--retry-errors" in result.stderr
    statuses = _statuses(tmp_path / "run")
    assert statuses == {
        "p0": ("OK", None),
        "p1": ("ERROR", "model_crashed"),
        "p2": ("OK", None),  # the worker was started again for the next request
    }
    log = (tmp_path / "run" / "harness.log").read_text()
    assert "model 'local' crashed in llama.cpp (killed by SIGSEGV)" in log
    assert "Fatal Python error: Segmentation fault" in log  # faulthandler's report, kept


def test_a_model_that_crashes_on_load_ends_every_attempt_as_an_error_then_resumes(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, ["one", "two", "three", "four"])
    crashing = _env(tmp_path, CRASH_ON_LOAD="1")
    result = harness("run", config, "--no-report", cwd=tmp_path, env=crashing)
    assert result.returncode == 4, result.stderr
    assert set(_statuses(tmp_path / "run").values()) == {("ERROR", "model_crashed")}
    log = (tmp_path / "run" / "harness.log").read_text()
    assert "crashed 2 times in a row" in log  # loaded twice, then given up: no crash loop

    # a resume without --retry-errors sends nothing; with it, the fixed model answers them all
    again = harness("run", config, "--no-report", cwd=tmp_path, env=_env(tmp_path))
    assert again.returncode == 4 or "sent 0" in again.stderr, again.stderr
    fixed = harness("run", config, "--retry-errors", cwd=tmp_path, env=_env(tmp_path))
    assert fixed.returncode == 0, fixed.stderr
    assert set(_statuses(tmp_path / "run").values()) == {("OK", None)}
    assert "local/raw" in fixed.stdout  # the report's table


@pytest.mark.anyio
async def test_the_provider_raises_model_crashed_naming_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_LLAMACPP_WORKER", f"{sys.executable} {CRASHING}")
    spec = ModelSpec(provider="llamacpp", path=str(_fake_gguf(tmp_path)), prompt_format="base")
    provider = LlamaCppProvider(spec, base_dir=tmp_path, name="tiny")
    request = ChatRequest(({"role": "user", "content": "CRASH"},), GenerationParams())
    try:
        with pytest.raises(ModelCrashed, match=r"model 'tiny' crashed in llama\.cpp"):
            await provider.complete(request)
        fine = ChatRequest(({"role": "user", "content": "hi"},), GenerationParams())
        assert (await provider.complete(fine)).text == "I cannot help with that."
    finally:
        await provider.aclose()


def test_a_path_that_is_not_a_gguf_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, ["hello"])
    data = yaml.safe_load(config.read_text())
    (tmp_path / "weights.bin").write_bytes(b"PK\x03\x04 not a model")
    data["models"]["local"]["path"] = str(tmp_path / "weights.bin")
    config.write_text(yaml.safe_dump(data))
    result = harness("run", config, cwd=tmp_path, env=_env(tmp_path))
    assert_user_error(result, "models.<name>.path", "not a GGUF file", "weights.bin")


def test_a_missing_gguf_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, ["hello"])
    data = yaml.safe_load(config.read_text())
    data["models"]["local"]["path"] = "nowhere/model.gguf"
    config.write_text(yaml.safe_dump(data))
    result = harness("run", config, cwd=tmp_path, env=_env(tmp_path))
    assert_user_error(result, "GGUF file not found", "model.gguf")


def test_llamacpp_only_keys_are_refused_for_api_models(tmp_path: Path) -> None:
    config = _config(tmp_path, ["hello"])
    data = yaml.safe_load(config.read_text())
    data["models"]["api"] = {
        "provider": "openai",
        "model": "x",
        "base_url": "http://127.0.0.1:9/v1",
        "extra_buffer_types": True,
    }
    config.write_text(yaml.safe_dump(data))
    result = harness("validate", config, cwd=tmp_path, env=_env(tmp_path))
    assert_user_error(result, "extra_buffer_types", "applies only to provider 'llamacpp'")
