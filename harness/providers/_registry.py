"""The provider registry: a `models` entry's `provider:` names a class registered in the
`harness.providers` entry-point group (the built-ins openai, anthropic and llamacpp included).

A provider class implements `Provider` (async `complete(request)`, `aclose()`) and declares:

- `from_spec(spec, *, api_key, base_dir, name)`, a classmethod that builds it for one model;
- `Options`, a `PluginOptions` model of its own keys in the `models` entry (e.g. llamacpp's
  `path`), strict like the rest of the config; `spec.options` is the parsed instance;
- `remote` (default True): reached over HTTP, so `model` is required and `base_url`,
  `api_key_env` and `rpm` apply; `serial` (default False): one request at a time.

Optional hooks: `request_identity(spec)` (classmethod: option values that change what a request
returns, hashed into each attempt's identity), `files(spec, base_dir)` (classmethod: the files
whose bytes decide its replies, e.g. weights, by name; their digests join each request's hash)
and `identity()` (what the run's manifest records of the model; a `path` given as a Path is
recorded with its sha256, and a resume whose file changed is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from harness._plugins import PROVIDERS, PluginOptions
from harness.config import ModelSpec
from harness.providers._types import Provider

__all__ = [
    "PROVIDERS",
    "ProviderClass",
    "ProviderOptions",
    "build_provider",
    "provider",
    "provider_files",
    "provider_identity",
    "registered_providers",
    "request_identity",
    "serial",
]


class ProviderOptions(PluginOptions):
    """Base of a provider's own keys in a `models` entry (unknown keys are errors)."""


class ProviderClass(Protocol):
    """What `build_provider` calls; `Options`, `remote` and `serial` are read with defaults."""

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, api_key: str | None, base_dir: Path, name: str
    ) -> Provider: ...


ProviderType = TypeVar("ProviderType", bound=type)


def provider(name: str) -> Callable[[ProviderType], ProviderType]:
    """Register a provider class under `name` (what a model's `provider:` says)."""
    return PROVIDERS.register(name)  # type: ignore[return-value]


def registered_providers() -> dict[str, type]:
    return PROVIDERS.all()


def build_provider(
    spec: ModelSpec, *, api_key: str | None, base_dir: Path, name: str = "model"
) -> Provider:
    cls = cast(ProviderClass, PROVIDERS.get(spec.provider))
    return cls.from_spec(spec, api_key=api_key, base_dir=base_dir, name=name)


def serial(spec: ModelSpec) -> bool:
    """Whether the model takes one request at a time (its channel's gate has one slot)."""
    return bool(getattr(PROVIDERS.get(spec.provider), "serial", False))


def request_identity(spec: ModelSpec) -> Mapping[str, Any]:
    hook = getattr(PROVIDERS.get(spec.provider), "request_identity", None)
    return dict(hook(spec)) if hook is not None else {}


def provider_files(spec: ModelSpec, base_dir: Path) -> Mapping[str, Path | None]:
    hook = getattr(PROVIDERS.get(spec.provider), "files", None)
    return dict(hook(spec, base_dir)) if hook is not None else {}


def provider_identity(instance: Provider) -> Mapping[str, Any]:
    hook = getattr(instance, "identity", None)
    return dict(hook()) if hook is not None else {}
