"""Any OpenAI-compatible Chat Completions server, over an httpx transport."""

from __future__ import annotations

import json
from typing import Any

import httpx

from harness.config import ModelSpec
from harness.providers._http import JsonEndpoint, without_tools
from harness.providers._types import (
    ChatRequest,
    MalformedReply,
    Reply,
    ToolCall,
    Usage,
)

__all__ = ["OpenAIProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    def __init__(
        self, spec: ModelSpec, *, api_key: str | None, transport: httpx.AsyncBaseTransport
    ) -> None:
        self._spec = spec
        url = (spec.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._endpoint = JsonEndpoint(transport, url, headers, spec.timeout)

    async def complete(self, request: ChatRequest) -> Reply:
        body = self._body(request)
        payload, elapsed = await self._endpoint.post_chat(
            body, offers_tools=bool(request.tools), probe=without_tools(body, request)
        )
        return _parse(payload, elapsed)

    async def aclose(self) -> None:
        await self._endpoint.aclose()

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self._spec.model,
            "messages": [_wire_message(m) for m in request.messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = params.stop
        if request.tools:
            body["tools"] = [{"type": "function", "function": dict(t)} for t in request.tools]
            # OpenAI's own default, said out loud: llama.cpp-based servers take a missing
            # tool_choice as "none" and answer in text as if no tool had been offered
            body["tool_choice"] = "auto"
        return body


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant tool-call turn with no text goes out with content "", not null: OpenAI
    accepts both, but chat templates that concatenate the content (llama-cpp-python's server)
    fail on null with HTTP 500."""
    if message.get("content") is None and message.get("role") == "assistant":
        return {**message, "content": ""}
    return message


def _parse(payload: Any, elapsed: float) -> Reply:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("JSON reply has no choices")
    message = choices[0].get("message") or {}
    usage = payload.get("usage") or {}
    return Reply(
        text=_text(message.get("content")),
        finish_reason=choices[0].get("finish_reason"),
        usage=Usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
        tool_calls=tuple(_tool_call(c) for c in message.get("tool_calls") or []),
        latency_s=elapsed,
    )


def _text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers return content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise MalformedReply(f"message content has unexpected type {type(content).__name__}")


def _tool_call(call: Any) -> ToolCall:
    function = (call.get("function") or {}) if isinstance(call, dict) else {}
    arguments = function.get("arguments", "")
    return ToolCall(
        id=call.get("id") if isinstance(call, dict) else None,
        name=str(function.get("name", "")),
        arguments=arguments
        if isinstance(arguments, str)
        else json.dumps(arguments, sort_keys=True),
    )
