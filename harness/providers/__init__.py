"""Model providers: OpenAI-compatible and Anthropic APIs over httpx transports (our own pooled
HTTP/1.1 one by default, `PooledTransport`); llama.cpp.

Each is registered in the `harness.providers` entry-point group (see `_registry`), as a
third-party provider is.
"""

from harness.providers._anthropic import AnthropicProvider
from harness.providers._http import JsonEndpoint, make_transport, parse_retry_after
from harness.providers._llamacpp import (
    LlamaCppOptions,
    LlamaCppProvider,
    check_gguf,
    default_gguf_path,
    render_base_prompt,
)
from harness.providers._moderation import ModerationClient, ModerationResult
from harness.providers._openai import OpenAIProvider
from harness.providers._registry import (
    PROVIDERS,
    ProviderClass,
    ProviderOptions,
    build_provider,
    provider,
    provider_files,
    provider_identity,
    registered_providers,
    request_identity,
    serial,
)
from harness.providers._transport import PooledTransport
from harness.providers._types import (
    ChatRequest,
    ConnectionFailed,
    MalformedReply,
    ModelCrashed,
    PermanentError,
    Provider,
    ProviderError,
    RateLimited,
    Reply,
    RequestRejected,
    RequestTimeout,
    ServerError,
    ToolCall,
    ToolsUnsupported,
    TransientError,
    Usage,
    tools_refused,
)

__all__ = [
    "PROVIDERS",
    "AnthropicProvider",
    "ChatRequest",
    "ConnectionFailed",
    "JsonEndpoint",
    "LlamaCppOptions",
    "LlamaCppProvider",
    "MalformedReply",
    "ModelCrashed",
    "ModerationClient",
    "ModerationResult",
    "OpenAIProvider",
    "PermanentError",
    "PooledTransport",
    "Provider",
    "ProviderClass",
    "ProviderError",
    "ProviderOptions",
    "RateLimited",
    "Reply",
    "RequestRejected",
    "RequestTimeout",
    "ServerError",
    "ToolCall",
    "ToolsUnsupported",
    "TransientError",
    "Usage",
    "build_provider",
    "check_gguf",
    "default_gguf_path",
    "make_transport",
    "parse_retry_after",
    "provider",
    "provider_files",
    "provider_identity",
    "registered_providers",
    "render_base_prompt",
    "request_identity",
    "serial",
    "tools_refused",
]
