"""Anthropic's Messages API (and compatible servers), over an httpx transport."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.config import ModelSpec
from harness.providers._http import JsonEndpoint, make_transport, without_tools
from harness.providers._registry import provider
from harness.providers._types import (
    ChatRequest,
    MalformedReply,
    Reply,
    ToolCall,
    Usage,
)

__all__ = ["AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# normalised to OpenAI's finish reasons so reports compare like with like
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


@provider("anthropic")
class AnthropicProvider:
    """Anthropic's messages API (system prompt apart, `tool_use` blocks)."""

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, api_key: str | None, base_dir: Path, name: str
    ) -> AnthropicProvider:
        transport = make_transport(spec.concurrency, spec.base_url)
        return cls(spec, api_key=api_key, transport=transport)

    def __init__(
        self, spec: ModelSpec, *, api_key: str | None, transport: httpx.AsyncBaseTransport
    ) -> None:
        self._spec = spec
        base = (spec.base_url or DEFAULT_BASE_URL).rstrip("/")
        url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
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
        system = [m["content"] for m in request.messages if m["role"] == "system"]
        body: dict[str, Any] = {
            "model": self._spec.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "messages": to_anthropic_messages(request.messages),
        }
        if system:
            body["system"] = "\n\n".join(system)
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop_sequences"] = params.stop
        if request.tools:
            body["tools"] = [
                {
                    "name": t["name"],
                    "description": t["description"],
                    "input_schema": t["parameters"],
                }
                for t in request.tools
            ]
            # the API's default, said out loud for compatible servers that assume none
            body["tool_choice"] = {"type": "auto"}
        return body  # the Messages API has no seed parameter


def to_anthropic_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-shaped history → Messages API: tool calls become tool_use blocks, and runs of
    tool results one user message of tool_result blocks."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "system":
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": str(message.get("content") or ""),
            }
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "assistant" and message.get("tool_calls"):
            out.append({"role": "assistant", "content": _tool_use_blocks(message)})
        else:
            out.append({"role": role, "content": message.get("content") or ""})
    return out


def _tool_use_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if message.get("content"):
        blocks.append({"type": "text", "text": message["content"]})
    for call in message["tool_calls"]:
        function = call["function"]
        try:
            arguments = json.loads(function["arguments"] or "{}")
        except ValueError:
            arguments = {"_malformed_arguments": function["arguments"]}
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments}
        )
    return blocks


def _parse(payload: Any, elapsed: float) -> Reply:
    content = payload.get("content") if isinstance(payload, dict) else None
    if not isinstance(content, list):
        raise MalformedReply("JSON reply has no content list")
    texts = [
        str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
    ]
    calls = [
        ToolCall(id=b.get("id"), name=str(b.get("name", "")), arguments=json.dumps(b.get("input")))
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    usage = payload.get("usage") or {}
    stop = payload.get("stop_reason")
    return Reply(
        text="".join(texts) if texts or not calls else None,
        finish_reason=FINISH_REASONS.get(stop, stop),
        usage=Usage(usage.get("input_tokens"), usage.get("output_tokens")),
        tool_calls=tuple(calls),
        latency_s=elapsed,
    )
