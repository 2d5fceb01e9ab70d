"""Building the provider a model spec names."""

from __future__ import annotations

from pathlib import Path

import httpx

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
    transport: httpx.AsyncBaseTransport | None = None,
    name: str = "model",
) -> Provider:
    """`transport` lets tests and benchmarks inject one instead of patching."""
    if spec.provider == "llamacpp":
        return LlamaCppProvider(spec, base_dir=base_dir, name=name)
    http = transport or make_transport(spec.concurrency, spec.base_url)
    if spec.provider == "anthropic":
        return AnthropicProvider(spec, api_key=api_key, transport=http)
    return OpenAIProvider(spec, api_key=api_key, transport=http)
