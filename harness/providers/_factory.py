"""Building the provider a model spec names."""

from __future__ import annotations

from pathlib import Path

from harness.config import ModelSpec
from harness.providers._anthropic import AnthropicProvider
from harness.providers._http import make_transport
from harness.providers._llamacpp import LlamaCppProvider
from harness.providers._openai import OpenAIProvider
from harness.providers._types import Provider

__all__ = ["build_provider"]


def build_provider(
    spec: ModelSpec,
    *,
    api_key: str | None,
    base_dir: Path,
    name: str = "model",
) -> Provider:
    if spec.provider == "llamacpp":
        return LlamaCppProvider(spec, base_dir=base_dir, name=name)
    http = make_transport(spec.concurrency, spec.base_url)
    if spec.provider == "anthropic":
        return AnthropicProvider(spec, api_key=api_key, transport=http)
    return OpenAIProvider(spec, api_key=api_key, transport=http)
