"""What every provider takes and returns, and the errors it may raise.

Providers raise; the runner decides about retrying (tenacity) and turns an exhausted failure into
an ERROR attempt. `TransientError` subclasses are the ones worth retrying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness._errors import HarnessError
from harness.config import GenerationParams

__all__ = [
    "ChatRequest",
    "ConnectionFailed",
    "MalformedReply",
    "ModelCrashed",
    "PermanentError",
    "Provider",
    "ProviderError",
    "RateLimited",
    "Reply",
    "RequestRejected",
    "RequestTimeout",
    "ServerError",
    "ToolCall",
    "ToolsUnsupported",
    "TransientError",
    "Usage",
    "tools_refused",
]


class ProviderError(HarnessError):
    """A request that did not produce a usable reply."""

    kind = "provider_error"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    def describe(self) -> str:
        status = f"HTTP {self.status} " if self.status else ""
        return f"{self.kind}: {status}{self}"


class TransientError(ProviderError):
    """Worth retrying: rate limits, server faults, timeouts, broken connections, garbled bodies."""


class RateLimited(TransientError):
    kind = "rate_limited"


class ServerError(TransientError):
    kind = "server_error"


class RequestTimeout(TransientError):
    kind = "timeout"


class ConnectionFailed(TransientError):
    kind = "connection"


class MalformedReply(TransientError):
    kind = "malformed_reply"


class PermanentError(ProviderError):
    """Retrying cannot help: the request itself was refused."""


class RequestRejected(PermanentError):
    kind = "rejected"


class ModelCrashed(PermanentError):
    """The process holding a local model died (a native crash in llama.cpp, or killed)."""

    kind = "model_crashed"


class ToolsUnsupported(PermanentError):
    """The model or server cannot call tools: the attempt is NO_TOOL_SUPPORT, not a text run."""

    kind = "no_tool_support"


def tools_refused(error: RequestRejected) -> bool:
    """Whether a rejection of a request that offered tools is about the tools."""
    text = str(error).lower()
    return any(word in text for word in ("tool", "function call", "function_call"))


@dataclass(frozen=True)
class ChatRequest:
    """Messages in OpenAI's role/content shape; adapters translate for other APIs."""

    messages: tuple[dict[str, Any], ...]
    params: GenerationParams
    # tools the model may call: {"name", "description", "parameters" (JSON Schema)}
    tools: tuple[Mapping[str, Any], ...] = ()
    # when set, the reply must end with a line that is exactly one of these (a judge's label):
    # providers that can constrain decoding do so (a grammar for llama.cpp, a JSON schema for
    # OpenAI-compatible servers) and still return text whose last line is the choice
    answer_choices: tuple[str, ...] = ()
    # when set, the reply must be a JSON object following this JSON schema (an attacker's
    # proposal): llama.cpp decodes through the schema's grammar, OpenAI-compatible servers are
    # sent it as `response_format`; the caller parses the reply strictly all the same
    response_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ToolCall:
    id: str | None
    name: str
    arguments: str  # raw JSON text as the model produced it, kept even when malformed


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Reply:
    text: str | None
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()
    latency_s: float | None = None
    error: str | None = None  # the provider's error when the reply is a failure


class Provider(Protocol):
    """Sends one chat request and returns the normalised reply, or raises ProviderError."""

    async def complete(self, request: ChatRequest) -> Reply: ...

    async def aclose(self) -> None: ...
