"""The helpers every package shares instead of writing them out again: the "did you mean" hint
of an unknown name, the config-relative path and the API-key reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import ConfigError
from harness._errors import did_you_mean
from harness._paths import resolve_relative
from harness.config import read_api_key
from harness.grading import GraderContext


def test_did_you_mean_names_the_closest_choice_or_nothing() -> None:
    assert did_you_mean("refusal_keyword", ["llm_judge", "refusal_keywords"]) == (
        "did you mean 'refusal_keywords'? "
    )
    assert did_you_mean("zzz", ["llm_judge", "refusal_keywords"]) == ""
    assert did_you_mean(3, {"3a": 1}) == "did you mean '3a'? "  # any name, any iterable


def test_a_relative_path_is_under_the_config_directory(tmp_path: Path) -> None:
    assert resolve_relative("prompts/a.txt", tmp_path) == tmp_path / "prompts" / "a.txt"
    assert resolve_relative(tmp_path / "x", Path("/elsewhere")) == tmp_path / "x"
    assert resolve_relative("~/a.txt", tmp_path) == Path.home() / "a.txt"
    assert GraderContext(tmp_path).resolve_path("labels.csv") == tmp_path / "labels.csv"


def test_an_api_key_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("I14A_KEY", "sk-test")
    assert read_api_key("I14A_KEY", field="models.m.api_key_env") == "sk-test"


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_or_empty_key_names_the_variable_and_the_field(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("I14A_KEY", raising=False)
    else:
        monkeypatch.setenv("I14A_KEY", value)
    with pytest.raises(ConfigError) as caught:
        read_api_key("I14A_KEY", field="models.m.api_key_env", when="grading")
    assert caught.value.field == "models.m.api_key_env"
    assert "I14A_KEY is not set" in caught.value.message
    assert caught.value.fix is not None and "before grading" in caught.value.fix
