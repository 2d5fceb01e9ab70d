"""A scriptable fake LLM API server listening on a real socket.

Tests and benchmarks talk to it over real HTTP so that client code paths
(connection pooling, timeouts, retries, error parsing) are exercised exactly
as they would be against a hosted provider.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, get_args

from aiohttp import web

__all__ = [
    "Fault",
    "FaultKind",
    "Quirks",
    "RecordedRequest",
    "Rule",
    "ScriptedServer",
    "ToolCall",
    "default_moderation_scores",
]

FaultKind = Literal["status", "reset", "delay", "invalid_json", "no_choices", "empty_body"]
Api = Literal["openai", "anthropic", "moderation"]
_T = TypeVar("_T")

# Generous so that start/stop never hang a test forever, yet never hit in practice.
_CONTROL_TIMEOUT: Final = 30.0
# In-flight handlers (e.g. a long "delay" fault) must not stall go_down()/stop().
_SHUTDOWN_GRACE: Final = 0.25
# Conversations in safety evals can be long; aiohttp's 1 MiB default is too small.
_MAX_BODY: Final = 64 * 1024 * 1024
# Benchmarks open hundreds of connections at once; aiohttp's default backlog of
# 128 overflows and the kernel's SYN retransmits add whole seconds of latency.
_BACKLOG: Final = 2048
_MODERATION_THRESHOLD: Final = 0.5
_MODERATION_CATEGORIES: Final = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_OPENAI_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_ANTHROPIC_STOP_REASONS: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


@dataclass(frozen=True)
class ToolCall:
    """A tool invocation the fake model emits."""

    name: str
    arguments: dict[str, Any]
    # sent verbatim as OpenAI's `arguments` string instead of JSON: to script a malformed call
    raw_arguments: str | None = None


@dataclass(frozen=True)
class Fault:
    """One injected failure; each fault is consumed by exactly one request."""

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    message: str | None = None  # the error body's message, for kind="status"

    def __post_init__(self) -> None:
        # Literal is not enforced at runtime and a typo would silently reply normally.
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind: {self.kind!r}")

    @classmethod
    def http(
        cls, status: int, retry_after: float | None = None, message: str | None = None
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, message=message)

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls("delay", seconds=seconds)

    @classmethod
    def invalid_json(cls) -> Fault:
        return cls("invalid_json")

    @classmethod
    def no_choices(cls) -> Fault:
        return cls("no_choices")

    @classmethod
    def empty_body(cls) -> Fault:
        return cls("empty_body")


@dataclass(frozen=True)
class Quirks:
    """Opt-in ways real OpenAI-compatible servers depart from the API, to test a client against.

    Each is off by default; `llama_cpp_python()` turns on the three seen with llama-cpp-python's
    server (0.3.x): a missing `tool_choice` taken as "none", a 500 on an assistant turn whose
    `content` is null, and (under `--chat_format gemma`) system messages dropped without a word.
    """

    # tools are ignored (never called) unless the request sends a tool_choice other than "none"
    tools_need_choice: bool = False
    # HTTP 500 when an assistant turn carries "content": null (a chat template concatenating it)
    null_content_500: bool = False
    # system messages (Anthropic: the system field) never reach the model nor its token count
    drop_system: bool = False
    # a server without tool support whose 400 does not say why: this message, whenever tools
    # are offered
    reject_tools_400: str | None = None

    @classmethod
    def llama_cpp_python(cls) -> Quirks:
        return cls(tools_need_choice=True, null_content_500=True, drop_system=True)


@dataclass
class Rule:
    """Scripted behaviour for requests whose last user text contains `match` (with
    `regex=True`: in which the regular expression `match` is found).

    `tool_calls` are answered first; once the conversation holds their results, `reply`.
    `faults` are consumed one per matching request, before any normal reply. `latency` is
    added to the server's own for every matching request."""

    match: str
    faults: list[Fault] = field(default_factory=list)
    reply: str | None = None
    tool_calls: list[ToolCall] | None = None
    finish_reason: str = "stop"
    regex: bool = False
    latency: float = 0.0

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.match)

    def matches(self, text: str) -> bool:
        return self._pattern.search(text) is not None if self.regex else self.match in text


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it; header names are lower-cased."""

    path: str
    headers: dict[str, str]
    body: Any
    last_user_text: str
    received_at: float


@dataclass
class _ActiveRule:
    # Copy of a Rule's faults so that consuming them never mutates the caller's
    # Rule (rules are often module-level constants shared between tests).
    rule: Rule
    pending: deque[Fault]


@dataclass(frozen=True)
class _Plan:
    fault: Fault | None
    rule: Rule | None


@dataclass(frozen=True)
class _Outcome:
    text: str | None
    tool_calls: Sequence[ToolCall]
    finish_reason: str


def default_moderation_scores(text: str) -> dict[str, float]:
    """Flag only an explicit marker so tests control moderation precisely."""
    return {"violence": 0.99} if "MODERATE_ME" in text else {}


def _echo(text: str) -> str:
    return "Echo: " + text


# --- request parsing -------------------------------------------------------


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]
    return "\n".join(texts)


def _messages(body: object) -> list[dict[str, Any]]:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def _last_user_text(body: object) -> str:
    # Anthropic tool results arrive as a user message holding only tool_result
    # blocks; skipping text-less messages keeps rules matching the real prompt.
    for message in reversed(_messages(body)):
        if message.get("role") == "user":
            text = _content_text(message.get("content"))
            if text:
                return text
    return ""


def _moderation_inputs(body: object) -> list[str]:
    raw = body.get("input") if isinstance(body, dict) else None
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list):
        return []
    return [item if isinstance(item, str) else _content_text([item]) for item in raw]


def _request_text(body: object, api: Api) -> str:
    if api == "moderation":
        return "\n".join(_moderation_inputs(body))
    return _last_user_text(body)


def _is_tool_result(message: Mapping[str, Any]) -> bool:
    if message.get("role") == "tool":
        return True
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def _has_tool_result(body: object) -> bool:
    return any(_is_tool_result(m) for m in _messages(body))


def _offers_tools(body: Mapping[str, Any]) -> bool:
    return bool(body.get("tools"))


def _tools_usable(body: Mapping[str, Any], quirks: Quirks) -> bool:
    """Whether the model sees the tools offered (tool calls are scripted for any request
    unless tools_need_choice asks for the tools and a tool_choice that is not "none")."""
    if not quirks.tools_need_choice:
        return True
    choice = body.get("tool_choice")
    return _offers_tools(body) and choice is not None and choice != "none"


def _null_assistant_content(body: object) -> bool:
    return any(
        m.get("role") == "assistant" and "content" in m and m["content"] is None
        for m in _messages(body)
    )


def _without_system(body: dict[str, Any]) -> dict[str, Any]:
    kept = [m for m in _messages(body) if m.get("role") != "system"]
    return {k: v for k, v in body.items() if k != "system"} | {"messages": kept}


def _quirk_error(body: dict[str, Any], api: Api, quirks: Quirks) -> web.Response | None:
    if api == "moderation":
        return None
    if quirks.reject_tools_400 is not None and _offers_tools(body):
        return _error_response(api, 400, quirks.reject_tools_400)
    if quirks.null_content_500 and _null_assistant_content(body):
        # what llama-cpp-python's chat templates raise on None + str
        return _error_response(api, 500, 'can only concatenate str (not "NoneType") to str')
    return None


def _word_count(text: str) -> int:
    return len(text.split())


def _prompt_tokens(body: Mapping[str, Any]) -> int:
    texts = [_content_text(m.get("content")) for m in _messages(body)]
    texts.append(_content_text(body.get("system")))
    return sum(_word_count(t) for t in texts)


def _completion_tokens(outcome: _Outcome) -> int:
    calls = " ".join(f"{c.name} {json.dumps(c.arguments)}" for c in outcome.tool_calls)
    return _word_count(outcome.text or "") + _word_count(calls)


async def _read_json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


# --- response building -----------------------------------------------------


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _openai_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": _new_id("call_"),
            "type": "function",
            "function": {
                "name": c.name,
                "arguments": c.raw_arguments
                if c.raw_arguments is not None
                else json.dumps(c.arguments),
            },
        }
        for c in calls
    ]


def _openai_reply(body: Mapping[str, Any], outcome: _Outcome) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": outcome.text}
    if outcome.tool_calls:
        message["tool_calls"] = _openai_tool_calls(outcome.tool_calls)
    prompt, completion = _prompt_tokens(body), _completion_tokens(outcome)
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": outcome.finish_reason}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _anthropic_content(outcome: _Outcome) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if outcome.text is not None:
        blocks.append({"type": "text", "text": outcome.text})
    for call in outcome.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": _new_id("toolu_"),
                "name": call.name,
                "input": call.arguments,
            }
        )
    return blocks


def _anthropic_reply(body: Mapping[str, Any], outcome: _Outcome) -> dict[str, Any]:
    reason = outcome.finish_reason
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "scripted-model"),
        "content": _anthropic_content(outcome),
        "stop_reason": _ANTHROPIC_STOP_REASONS.get(reason, reason),
        "stop_sequence": None,
        "usage": {
            "input_tokens": _prompt_tokens(body),
            "output_tokens": _completion_tokens(outcome),
        },
    }


def _moderation_result(scores: Mapping[str, float]) -> dict[str, Any]:
    all_scores = dict.fromkeys(_MODERATION_CATEGORIES, 0.0) | dict(scores)
    categories = {name: score >= _MODERATION_THRESHOLD for name, score in all_scores.items()}
    return {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": all_scores,
    }


def _error_body(api: Api, status: int, message: str) -> dict[str, Any]:
    if api == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _error_response(
    api: Api, status: int, message: str, retry_after: float | None = None
) -> web.Response:
    headers: dict[str, str] = {}
    if retry_after is not None:
        # Real providers send integer seconds; keep fractions for fast tests.
        headers["Retry-After"] = f"{retry_after:g}"
        headers["retry-after-ms"] = str(round(retry_after * 1000))
    return web.json_response(_error_body(api, status, message), status=status, headers=headers)


def _no_choices_body(api: Api) -> dict[str, Any]:
    if api == "anthropic":
        return {"id": "msg_x", "type": "message", "role": "assistant"}
    if api == "moderation":
        return {"id": "modr-x", "model": "scripted-moderation"}
    return {"id": "x", "object": "chat.completion"}


def _abort_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Zero linger turns close() into a TCP RST, the harshest realistic failure.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _apply_fault(fault: Fault, request: web.Request, api: Api) -> web.StreamResponse | None:
    """Return the faulty response, or None when the request should proceed normally."""
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
        return None
    if fault.kind == "status":
        return _error_response(
            api,
            fault.status,
            fault.message or f"scripted fault: HTTP {fault.status}",
            fault.retry_after,
        )
    if fault.kind == "reset":
        _abort_connection(request)
        # aiohttp swallows the ConnectionError raised when writing this.
        return web.Response()
    if fault.kind == "invalid_json":
        return web.Response(text="<html>not json</html>", content_type="text/html")
    if fault.kind == "no_choices":
        return web.json_response(_no_choices_body(api))
    return web.Response(body=b"", content_type="application/json")


# --- the server --------------------------------------------------------------


class ScriptedServer:
    """Fake OpenAI/Anthropic/moderation API served from a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        default_reply: Callable[[str], str] | None = None,
        rules: Sequence[Rule] = (),
        faults: Sequence[Fault] = (),
        moderation: Callable[[str], Mapping[str, float]] | None = None,
        max_log: int | None = None,
        quirks: Quirks | None = None,
    ) -> None:
        self.latency = latency
        self.quirks = quirks or Quirks()
        self._host = host
        self._port = port
        self._default_reply = default_reply or _echo
        self._moderation = moderation or default_moderation_scores
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque(faults)
        self._rules: list[_ActiveRule] = []
        self._log: deque[RecordedRequest] = deque(maxlen=max_log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        for rule in rules:
            self.add_rule(rule)

    # --- lifecycle -------------------------------------------------------

    def start(self) -> ScriptedServer:
        if self._thread is not None:
            raise RuntimeError("ScriptedServer already started")
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=_run_loop, args=(loop,), name="scripted-server", daemon=True
        )
        self._loop = loop
        self._thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            self._call(self._unlisten())
        finally:
            self._stop_loop()

    def go_down(self) -> None:
        """Stop listening so new connections are refused; state and port are kept."""
        self._call(self._unlisten())

    def come_back(self) -> None:
        """Listen again on the same port after go_down()."""
        if self._runner is None:
            self._call(self._listen())

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses -------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("port is unknown until the server has started")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    # --- scripting and inspection ------------------------------------------

    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def add_rule(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(_ActiveRule(rule, deque(rule.faults)))

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.recorded()

    def recorded(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def count(self, match: str) -> int:
        with self._lock:
            return sum(match in r.last_user_text for r in self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # --- event-loop side -------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("ScriptedServer is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CONTROL_TIMEOUT)

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread, self._runner = None, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CONTROL_TIMEOUT)

    async def _listen(self) -> None:
        runner = web.AppRunner(
            self._app(), access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_GRACE
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, backlog=_BACKLOG).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        # Pin the OS-chosen port so come_back() and restarts reuse it.
        self._port = int(runner.addresses[0][1])

    async def _unlisten(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_get("/health", _health)
        app.router.add_post("/v1/chat/completions", self._handle_openai)
        app.router.add_post("/v1/messages", self._handle_anthropic)
        app.router.add_post("/v1/moderations", self._handle_moderation)
        return app

    async def _handle_openai(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai")

    async def _handle_anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "anthropic")

    async def _handle_moderation(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "moderation")

    async def _serve(self, request: web.Request, api: Api) -> web.StreamResponse:
        body = await _read_json(request)
        text = _request_text(body, api)
        plan = self._record_and_plan(request, body, text)
        await asyncio.sleep(self.latency + (plan.rule.latency if plan.rule is not None else 0.0))
        if plan.fault is not None:
            faulty = await _apply_fault(plan.fault, request, api)
            if faulty is not None:
                return faulty
        if not isinstance(body, dict):
            return _error_response(api, 400, "request body must be a JSON object")
        quirky = _quirk_error(body, api, self.quirks)
        if quirky is not None:
            return quirky
        if self.quirks.drop_system and api != "moderation":
            body = _without_system(body)
        return web.json_response(self._reply(api, body, text, plan.rule))

    def _record_and_plan(self, request: web.Request, body: Any, text: str) -> _Plan:
        # benchmarks keep no log: the server's own cost per request is then as low as it goes
        entry = (
            RecordedRequest(
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                last_user_text=text,
                received_at=time.time(),
            )
            if self._log.maxlen != 0
            else None
        )
        # One critical section so log order and fault order agree under concurrency.
        with self._lock:
            if entry is not None:
                self._log.append(entry)
            active = next((r for r in self._rules if r.rule.matches(text)), None)
            fault = self._faults.popleft() if self._faults else None
            if fault is None and active is not None and active.pending:
                fault = active.pending.popleft()
        return _Plan(fault, active.rule if active else None)

    def _reply(
        self, api: Api, body: dict[str, Any], text: str, rule: Rule | None
    ) -> dict[str, Any]:
        if api == "moderation":
            return self._moderation_reply(body)
        outcome = self._outcome(body, text, rule)
        if api == "anthropic":
            return _anthropic_reply(body, outcome)
        return _openai_reply(body, outcome)

    def _outcome(self, body: dict[str, Any], text: str, rule: Rule | None) -> _Outcome:
        tools = _tools_usable(body, self.quirks)
        if rule is not None and rule.tool_calls and tools and not _has_tool_result(body):
            return _Outcome(None, rule.tool_calls, "tool_calls")
        if rule is not None and rule.reply is not None:
            return _Outcome(rule.reply, (), rule.finish_reason)
        finish = rule.finish_reason if rule is not None else "stop"
        return _Outcome(self._default_reply(text), (), finish)

    def _moderation_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": _new_id("modr-"),
            "model": body.get("model", "omni-moderation-latest"),
            "results": [_moderation_result(self._moderation(t)) for t in _moderation_inputs(body)],
        }


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        _cancel_leftover_tasks(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    # Handlers stuck in a long "delay" fault outlive the shutdown grace period;
    # cancel them explicitly so closing the loop does not warn about them.
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
