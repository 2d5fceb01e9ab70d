"""Any OpenAI-compatible Chat Completions server, over an httpx transport."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
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
    RequestRejected,
    ToolCall,
    Usage,
)

__all__ = ["OpenAIProvider", "answer_schema"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@provider("openai")
class OpenAIProvider:
    """OpenAI's chat completions API, and every server that speaks it (vLLM, llama.cpp, ...)."""

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, api_key: str | None, base_dir: Path, name: str
    ) -> OpenAIProvider:
        transport = make_transport(spec.concurrency, spec.base_url)
        return cls(spec, api_key=api_key, transport=transport)

    def __init__(
        self, spec: ModelSpec, *, api_key: str | None, transport: httpx.AsyncBaseTransport
    ) -> None:
        self._spec = spec
        url = (spec.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._endpoint = JsonEndpoint(transport, url, headers, spec.timeout)
        # whether the server takes `response_format: json_schema`; False once it refused it
        self._structured = True

    async def complete(self, request: ChatRequest) -> Reply:
        choices, schema = request.answer_choices, request.response_schema
        structured = bool(choices or schema) and self._structured
        body = self._body(request)
        if structured:
            body["response_format"] = (
                answer_schema(choices) if choices else _response_format("reply", schema or {})
            )
        try:
            payload, elapsed = await self._endpoint.post_chat(
                body, offers_tools=bool(request.tools), probe=without_tools(body, request)
            )
        except RequestRejected as exc:
            if not (structured and _refuses_structured_output(exc)):
                raise
            # the server knows no structured output: ask in plain text, parsed strictly
            self._structured = False
            body.pop("response_format")
            payload, elapsed = await self._endpoint.post_chat(body, offers_tools=False)
            structured = False
        reply = _parse(payload, elapsed)
        # a JSON-schema reply is returned as it came: its caller parses the JSON strictly
        return _from_structured(reply) if structured and choices else reply

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


def answer_schema(choices: tuple[str, ...]) -> dict[str, Any]:
    """Structured output that keeps the judge's reasoning and makes its answer one choice."""
    schema = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "answer": {"type": "string", "enum": list(choices)},
        },
        "required": ["reasoning", "answer"],
        "additionalProperties": False,
    }
    return _response_format("answer", schema)


def _response_format(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "strict": True, "schema": dict(schema)},
    }


def _refuses_structured_output(error: RequestRejected) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("response_format", "json_schema", "structured"))


def _from_structured(reply: Reply) -> Reply:
    """The structured answer as text ending with the choice; anything else is left as it came,
    for the caller's strict parser to refuse."""
    try:
        answer = json.loads(reply.text or "")
    except ValueError:
        return reply
    if not isinstance(answer, dict) or not isinstance(answer.get("answer"), str):
        return reply
    text = f"{answer.get('reasoning') or ''}\n{answer['answer']}".strip()
    return replace(reply, text=text)


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
