"""Config loading and validation: resolution into configurations, and one-line user errors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness._errors import ConfigError
from harness.config import LoadedConfig, load_config, parse_config, required_secrets


def base_config() -> dict[str, Any]:
    return {
        "name": "t",
        "models": {
            "gemma": {"provider": "openai", "model": "gemma-3", "params": {"temperature": 0}},
            "llama": {"provider": "openai", "model": "llama-3"},
        },
        "deployments": {"raw": {}, "guarded": {"system_prompt": "Be safe."}},
        "configurations": {"matrix": {"models": ["gemma", "llama"], "deployments": ["raw"]}},
        "suites": [{"name": "core", "source": "core.jsonl", "columns": {"prompt": "prompt"}}],
        "graders": [{"name": "refusal_keywords"}],
    }


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def config_error(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> ConfigError:
    raw = base_config()
    change(raw)
    file = write(tmp_path / "exp.yaml", raw)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return caught.value


def test_matrix_expands_to_model_slash_deployment(tmp_path: Path) -> None:
    raw = base_config()
    raw["configurations"] = {
        "matrix": {"models": ["gemma", "llama"], "deployments": ["raw", "guarded"]}
    }
    loaded = parse_config(raw, tmp_path / "exp.yaml")
    assert [c.name for c in loaded.configurations] == [
        "gemma/raw",
        "gemma/guarded",
        "llama/raw",
        "llama/guarded",
    ]
    guarded = loaded.configurations[1]
    assert (guarded.model_name, guarded.deployment_name) == ("gemma", "guarded")
    assert guarded.model.model == "gemma-3"
    assert guarded.system_prompt == "Be safe."
    assert loaded.configurations[0].system_prompt is None


def test_explicit_configurations_and_a_matrix_mix(tmp_path: Path) -> None:
    raw = base_config()
    raw["configurations"] = [
        {"model": "llama", "deployment": "guarded", "name": "llama-safe"},
        {"model": "gemma", "deployment": "raw"},
        {"matrix": {"models": ["llama"], "deployments": ["raw"]}},
    ]
    loaded = parse_config(raw, tmp_path / "exp.yaml")
    assert [c.name for c in loaded.configurations] == ["llama-safe", "gemma/raw", "llama/raw"]


def test_duplicate_configuration_name_is_an_error(tmp_path: Path) -> None:
    raw = base_config()
    raw["configurations"] = [
        {"model": "gemma", "deployment": "raw"},
        {"matrix": {"models": ["gemma"], "deployments": ["raw"]}},
    ]
    with pytest.raises(ConfigError, match=r"configurations\[1\].*'gemma/raw' is declared twice"):
        parse_config(raw, tmp_path / "exp.yaml")


def test_system_prompt_from_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "safety.txt").write_text("  Refuse harm.\n", encoding="utf-8")
    (tmp_path / "configs").mkdir()
    raw = base_config()
    raw["deployments"]["guarded"] = {"system_prompt": {"file": "../prompts/safety.txt"}}
    raw["configurations"] = {"matrix": {"models": ["gemma"], "deployments": ["guarded"]}}
    loaded = load_config(write(tmp_path / "configs" / "exp.yaml", raw))
    assert loaded.configurations[0].system_prompt == "Refuse harm."
    assert loaded.canonical()["resolved_system_prompts"] == {"gemma/guarded": "Refuse harm."}


def test_missing_system_prompt_file(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["deployments"]["guarded"] = {"system_prompt": {"file": "nope.txt"}}
        raw["configurations"] = [{"model": "gemma", "deployment": "guarded"}]

    error = config_error(tmp_path, change)
    assert error.field == "deployments.guarded.system_prompt.file"
    assert "nope.txt" in error.message


@pytest.mark.parametrize(
    ("change", "field", "suggestion"),
    [
        (lambda r: r.update(modls={}), "modls", "models"),
        (lambda r: r.update(colour="red"), "colour", None),
        (lambda r: r["models"]["gemma"].update(paramz={}), "models.gemma.paramz", "params"),
        (
            lambda r: r["models"]["gemma"]["params"].update(temprature=1),
            "models.gemma.params.temprature",
            "temperature",
        ),
        (
            lambda r: r["suites"][0]["columns"].update(promt="x"),
            "suites[0].columns.promt",
            "prompt",
        ),
        (
            lambda r: r.update(configurations=[{"model": "gemma", "deployment": "raw", "x": 1}]),
            "configurations[0].x",
            None,
        ),
        (
            lambda r: r.update(
                configurations={"matrix": {"models": ["gemma"], "deploymentz": ["raw"]}}
            ),
            "configurations[0].matrix.deploymentz",
            "deployments",
        ),
        (
            lambda r: r["deployments"].update(guarded={"system_prompt": {"fil": "a.txt"}}),
            "deployments.guarded.system_prompt.fil",
            "file",
        ),
    ],
)
def test_unknown_key_names_file_field_and_fix(
    tmp_path: Path,
    change: Callable[[dict[str, Any]], object],
    field: str,
    suggestion: str | None,
) -> None:
    error = config_error(tmp_path, change)
    text = str(error)
    assert error.field == field
    assert f"unknown key '{field.rsplit('.', 1)[-1]}'" in text
    assert str(tmp_path / "exp.yaml") in text
    assert "remove or rename it" in text
    if suggestion:
        assert f"did you mean '{suggestion}'?" in text
    else:
        assert "did you mean" not in text
    # union members of the schema (ConfigurationSpec, FileRef, ...) never leak into the path
    assert "Spec" not in error.field and "FileRef" not in error.field and "Entry" not in text


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            lambda r: r["models"]["gemma"].update(concurrency="lots"),
            "models.gemma.concurrency",
            "integer",
        ),
        (lambda r: r.update(samples=[1]), "samples", "integer"),
        (
            lambda r: r["models"]["gemma"]["params"].update(temperature=5),
            "models.gemma.params.temperature",
            "2",
        ),
        (
            lambda r: r["models"]["gemma"].update(provider="openia"),
            "models.gemma.provider",
            "'openai'",
        ),
        (lambda r: r.update(configurations=["gemma/raw"]), "configurations[0]", "mapping"),
        (lambda r: r["models"]["gemma"].pop("model"), "models.gemma", "needs 'model'"),
        (
            lambda r: r["models"]["gemma"].update(path="w.gguf"),
            "models.gemma",
            "'path' applies only",
        ),
        (lambda r: r.update(models={}), "models", "at least 1"),
    ],
)
def test_invalid_value_names_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], field: str, words: str
) -> None:
    error = config_error(tmp_path, change)
    assert error.field == field
    assert words in error.message
    assert error.fix
    assert "Spec" not in str(error)


@pytest.mark.parametrize(
    ("configurations", "words"),
    [
        ([{"model": "gpt", "deployment": "raw"}], "unknown model 'gpt'"),
        (
            {"matrix": {"models": ["gemma"], "deployments": ["filtered"]}},
            "unknown deployment 'filtered'",
        ),
    ],
)
def test_configuration_referencing_undefined_names(
    tmp_path: Path, configurations: object, words: str
) -> None:
    error = config_error(tmp_path, lambda raw: raw.update(configurations=configurations))
    assert error.field == "configurations"
    assert words in error.message
    assert "entry 0" in error.message


@pytest.mark.parametrize(
    ("graders", "words"),
    [
        ([{"name": "refusal_keywords"}, {"name": "refusal_keywords", "id": "kw2"}], "found 0"),
        (
            [{"name": "a", "id": "x", "primary": True}, {"name": "b", "id": "y", "primary": True}],
            "found 2",
        ),
        (
            [{"name": "a", "id": "kw", "primary": True}, {"name": "b", "id": "kw"}],
            "duplicate grader id 'kw'",
        ),
    ],
)
def test_grader_primary_and_ids(tmp_path: Path, graders: list[dict[str, Any]], words: str) -> None:
    error = config_error(tmp_path, lambda raw: raw.update(graders=graders))
    assert error.field == "graders"
    assert words in error.message


def test_two_graders_with_one_primary_is_fine(tmp_path: Path) -> None:
    raw = base_config()
    raw["graders"] = [
        {"name": "refusal_keywords", "id": "kw_a", "primary": True},
        {"name": "refusal_keywords", "id": "kw_x", "options": {"list": "xstest"}},
    ]
    assert parse_config(raw, tmp_path / "exp.yaml").spec.primary_grader.rater == "kw_a"


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("name: t\nsamples: 1\n  seed: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert caught.value.file == str(file)
    assert caught.value.field == "line 3, column 7"  # the stray colon
    assert "YAML syntax error: mapping values are not allowed here" in caught.value.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found") as caught:
        load_config(tmp_path / "absent.yaml")
    assert caught.value.file == str(tmp_path / "absent.yaml")


def test_config_that_is_not_a_mapping(tmp_path: Path) -> None:
    file = tmp_path / "list.yaml"
    file.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(file)


def test_required_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = base_config()
    raw["models"]["gemma"]["api_key_env"] = "HARNESS_TEST_UNSET_KEY"
    loaded = parse_config(raw, tmp_path / "exp.yaml")
    monkeypatch.delenv("HARNESS_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError) as caught:
        required_secrets(loaded)
    assert caught.value.field == "models.gemma.api_key_env"
    assert "HARNESS_TEST_UNSET_KEY" in str(caught.value)
    monkeypatch.setenv("HARNESS_TEST_UNSET_KEY", "sk-test")
    assert required_secrets(loaded) == {"HARNESS_TEST_UNSET_KEY": "sk-test"}


def test_config_hash_stable_and_sensitive_to_system_prompt_file(tmp_path: Path) -> None:
    prompt = tmp_path / "safety.txt"
    prompt.write_text("Refuse harm.", encoding="utf-8")
    raw = base_config()
    raw["deployments"]["guarded"] = {"system_prompt": {"file": "safety.txt"}}
    raw["configurations"] = {"matrix": {"models": ["gemma"], "deployments": ["raw", "guarded"]}}
    file = write(tmp_path / "exp.yaml", raw)

    def hash_() -> str:
        loaded: LoadedConfig = load_config(file)
        return loaded.config_hash()

    first = hash_()
    assert hash_() == first
    prompt.write_text("Refuse harm, politely.", encoding="utf-8")
    assert hash_() != first


def test_output_is_not_part_of_the_hash(tmp_path: Path) -> None:
    raw = base_config()
    one = parse_config(copy.deepcopy(raw) | {"output": "a"}, tmp_path / "exp.yaml")
    two = parse_config(copy.deepcopy(raw) | {"output": "b"}, tmp_path / "exp.yaml")
    assert one.config_hash() == two.config_hash()
    assert one.output_dir == (tmp_path / "a").resolve()


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_demo_config_is_valid() -> None:
    loaded = load_config(CONFIGS[0].parent / "demo.yaml")
    names = [c.name for c in loaded.configurations]
    assert names[:2] == ["gemma-270m/raw", "gemma-270m/safety-prompt"]
    assert loaded.configurations[0].system_prompt is None
    assert loaded.configurations[1].system_prompt


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_example_config_is_valid(path: Path) -> None:
    assert load_config(path).configurations
