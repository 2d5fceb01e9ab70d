"""The open registries: the built-ins are registered through the entry-point groups
third-party plugins use, and config validation finds each plugin's own keys through them.

(Third-party plugins, installed for real, are exercised in tests/test_plugin.py.)
"""

from __future__ import annotations

from importlib.metadata import distribution

import pytest
from pydantic import ValidationError

from harness._errors import ConfigError
from harness._plugins import GUARD_KINDS, PROVIDERS, Registry
from harness.config import GuardSpec, ModelSpec
from harness.grading import GRADERS
from harness.ingest import IMPORTERS
from harness.layers import KeywordOptions, ModelGuardOptions
from harness.providers import LlamaCppOptions
from harness.reporting import REPORTERS

GROUPS: dict[str, Registry[type]] = {
    "harness.graders": GRADERS,
    "harness.providers": PROVIDERS,
    "harness.guards": GUARD_KINDS,
    "harness.reporters": REPORTERS,
    "harness.importers": IMPORTERS,
}


def own_entry_points(group: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in distribution("harness").entry_points if ep.group == group}


@pytest.mark.parametrize("group", GROUPS)
def test_every_builtin_is_an_entry_point_of_the_harness(group: str) -> None:
    registry = GROUPS[group]
    declared = own_entry_points(group)
    assert declared, f"pyproject.toml declares no {group} entry points"
    # the tests load only the harness's own (HARNESS_LOAD_PLUGINS=""): exactly these names
    assert sorted(registry.names()) == sorted(declared)
    for name, cls in registry.all().items():
        module, _, attr = declared[name].partition(":")
        assert (cls.__module__, cls.__qualname__) == (module, attr), name


def test_builtins_are_listed_in_their_documented_order() -> None:
    assert PROVIDERS.names() == ["openai", "anthropic", "llamacpp"]
    assert GUARD_KINDS.names() == ["keywords", "model", "moderation"]
    assert REPORTERS.names() == ["md", "csv", "latex", "html", "json"]


def test_an_unknown_name_offers_the_closest_and_lists_the_installed() -> None:
    with pytest.raises(ConfigError) as caught:
        REPORTERS.get("htlm")
    error = caught.value
    assert error.field == "--format"
    assert "unknown report format 'htlm'" in error.message
    assert "'md', 'csv', 'latex', 'html' or 'json'" in error.message
    assert error.fix is not None and error.fix.startswith("did you mean 'html'?")


def test_a_providers_own_keys_are_parsed_by_its_options_model() -> None:
    local = ModelSpec.model_validate({"provider": "llamacpp", "path": "w.gguf", "n_ctx": 512})
    assert isinstance(local.options, LlamaCppOptions)
    assert (local.options.path, local.options.n_ctx, local.options.tool_calling) == (
        "w.gguf",
        512,
        None,
    )
    api = ModelSpec.model_validate({"provider": "openai", "model": "m"})
    assert not type(api.options).model_fields  # openai declares no keys of its own


@pytest.mark.parametrize(
    ("raw", "loc", "words"),
    [
        ({"provider": "llamacpp", "n_ctx": 64}, ("n_ctx",), "greater than or equal to 128"),
        ({"provider": "llamacpp", "pth": "w.gguf"}, ("pth",), "unknown key 'pth'"),
        ({"provider": "openai", "model": "m", "path": "w"}, (), "applies only to provider"),
        ({"provider": "llamacpp", "base_url": "http://x"}, (), "does not apply to provider"),
    ],
)
def test_a_providers_own_keys_are_strict(
    raw: dict[str, object], loc: tuple[str, ...], words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelSpec.model_validate(raw)
    error = caught.value.errors()[0]
    assert tuple(str(p) for p in error["loc"]) == loc
    assert words in error["msg"]


def test_a_guard_kinds_own_keys_are_parsed_and_strict() -> None:
    keywords = GuardSpec.model_validate({"kind": "keywords", "phrases": ["x"]})
    assert isinstance(keywords.options, KeywordOptions) and keywords.label == "keywords"
    model = GuardSpec.model_validate({"kind": "model", "model": "judge"})
    assert isinstance(model.options, ModelGuardOptions)
    assert (model.label, model.models()) == ("model:judge", ["judge"])
    moderation = {"kind": "moderation", "base_url": "http://127.0.0.1:9", "api_key_env": "K"}
    assert GuardSpec.model_validate(moderation).secrets() == ["K"]
    with pytest.raises(ValidationError, match="needs phrases or patterns"):
        GuardSpec.model_validate({"kind": "keywords"})
    with pytest.raises(ValidationError, match="'base_url' does not apply to a 'keywords' guard"):
        GuardSpec.model_validate({"kind": "keywords", "phrases": ["x"], "base_url": "u"})
