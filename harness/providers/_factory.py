"""Building the provider a model spec names."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.config import ModelSpec
from harness.providers._anthropic import AnthropicProvider
from harness.providers._http import make_client
from harness.providers._llamacpp import LlamaCppProvider
from harness.providers._openai import OpenAIProvider
from harness.providers._types import Provider

__all__ = ["build_provider"]


def build_provider(
    spec: ModelSpec, *, api_key: str | None, base_dir: Path, client: httpx.AsyncClient | None = None
) -> Provider:
    """`client` lets tests and benchmarks inject a transport instead of patching."""
    if spec.provider == "llamacpp":
        return LlamaCppProvider(spec, base_dir=base_dir)
    http = client or make_client(spec.concurrency, spec.timeout)
    if spec.provider == "anthropic":
        return AnthropicProvider(spec, api_key=api_key, client=http)
    return OpenAIProvider(spec, api_key=api_key, client=http)
