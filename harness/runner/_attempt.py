"""One attempt: guards around each live turn, a bounded agent loop with simulated tools."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.config import Configuration, ToolAccessSpec
from harness.layers import GuardEvent, SafetyLayer
from harness.providers import ChatRequest, ProviderError, Reply, ToolsUnsupported
from harness.runner._adaptive_attack import run_adaptive
from harness.runner._channels import Channel
from harness.runner._plan import WorkItem
from harness.store import AttemptRecord, Status, now_iso
from harness.tools import (
    ToolCallRecord,
    ToolDefinition,
    ToolEnvironment,
    executed_targets,
    parse_targets,
)

__all__ = ["ConfigurationRuntime", "error_record", "internal_error_record", "run_attempt"]


@dataclass(frozen=True)
class ConfigurationRuntime:
    """What one configuration needs at run time: its model's channel and its layers."""

    configuration: Configuration
    channel: Channel
    safety: SafetyLayer | None = None
    tools: ToolAccessSpec | None = None
    custom_tools: tuple[ToolDefinition, ...] = ()
    # every channel of the run, by model name: adaptive attacks call their attacker and judge
    peers: Mapping[str, Channel] | None = None


@dataclass
class _Transcript:
    """Everything one attempt accumulates, whatever way it ends."""

    messages: list[dict[str, Any]]
    events: list[GuardEvent] = field(default_factory=list)
    calls: list[ToolCallRecord] = field(default_factory=list)
    model_calls: int = 0
    tries: int = 0
    latency: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None

    def count(self, reply: Reply | None, tries: int) -> None:
        self.model_calls += 1
        self.tries += tries
        if reply is not None:
            self.latency += reply.latency_s or 0.0
            self.prompt_tokens += reply.usage.prompt_tokens or 0
            self.completion_tokens += reply.usage.completion_tokens or 0
            self.finish_reason = reply.finish_reason


@dataclass(frozen=True)
class _End:
    status: Status
    response: str | None = None
    raw_response: str | None = None
    error: str | None = None
    error_kind: str | None = None


async def run_attempt(
    work: WorkItem, runtime: ConfigurationRuntime, started_at: str | None = None
) -> AttemptRecord:
    started_at = started_at or now_iso()
    if work.adaptive is not None:
        return await run_adaptive(
            work, runtime, runtime.peers or {}, started_at, run_attempt, error_record
        )
    transcript = _Transcript(list(work.messages))
    environment = (
        ToolEnvironment(
            runtime.tools.catalog,
            seed=work.params.seed or 0,
            fixtures=runtime.tools.fixtures,
            custom=runtime.custom_tools,
        )
        if runtime.tools
        else None
    )
    end = await _turns(work, runtime, transcript, environment)
    if environment is not None:
        transcript.calls = list(environment.calls)
    return _record(work, transcript, end, started_at)


async def _turns(
    work: WorkItem,
    runtime: ConfigurationRuntime,
    transcript: _Transcript,
    environment: ToolEnvironment | None,
) -> _End:
    safety = runtime.safety
    reply_text: str | None = None
    for index, turn in enumerate(work.turns):
        transcript.messages.append({"role": "user", "content": turn})
        if safety is not None and await _blocked(safety, turn, "input", index, transcript):
            return _End(Status.BLOCKED_INPUT, response=safety.refusal_text)
        reply = await _agent_turn(work, runtime, transcript, environment)
        if isinstance(reply, _End):
            return reply
        reply_text = reply
        if (
            safety is not None
            and reply
            and await _blocked(safety, reply, "output", index, transcript)
        ):
            transcript.messages.append({"role": "assistant", "content": reply})
            return _End(Status.BLOCKED_OUTPUT, response=safety.refusal_text, raw_response=reply)
        transcript.messages.append({"role": "assistant", "content": reply})
    return _End(Status.OK, response=reply_text)


async def _blocked(
    safety: SafetyLayer, text: str, stage: Any, turn: int, transcript: _Transcript
) -> bool:
    blocked, events = await safety.screen(text, stage, turn)
    transcript.events.extend(events)
    return blocked


async def _agent_turn(
    work: WorkItem,
    runtime: ConfigurationRuntime,
    transcript: _Transcript,
    environment: ToolEnvironment | None,
) -> str | _End | None:
    """Call the model until it answers without calling a tool, or a bound is reached."""
    tools = runtime.tools
    # the Chat Completions function entry is plain JSON: name, description, parameters
    specs = tuple(s.openai()["function"] for s in environment.specs) if environment else ()
    for step in range(1, (tools.max_steps if tools else 1) + 1):
        request = ChatRequest(tuple(transcript.messages), work.params, specs)
        outcome = await runtime.channel.complete(request)
        transcript.count(outcome.reply, outcome.tries)
        if outcome.reply is None:
            return _failure(outcome.error)
        reply = outcome.reply
        if environment is None or tools is None or not reply.tool_calls:
            return reply.text
        ended = _run_tools(reply, step, tools, transcript, environment)
        if ended is not None:
            return ended
    transcript.finish_reason = "max_steps"
    return None


def _run_tools(
    reply: Reply,
    step: int,
    tools: ToolAccessSpec,
    transcript: _Transcript,
    environment: ToolEnvironment,
) -> _End | None:
    calls: list[dict[str, Any]] = [
        {
            "id": c.id or f"call_{step}_{i}",
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments},
        }
        for i, c in enumerate(reply.tool_calls)
    ]
    transcript.messages.append({"role": "assistant", "content": reply.text, "tool_calls": calls})
    for call in calls:
        if len(environment.calls) >= tools.max_tool_calls:
            transcript.finish_reason = "max_tool_calls"
            return _End(Status.OK, response=reply.text)
        function = call["function"]
        record = environment.call(
            function["name"], function["arguments"], call_id=call["id"], step=step
        )
        transcript.messages.append(
            {"role": "tool", "tool_call_id": call["id"], "content": record.observation}
        )
        if record.error is not None and record.error.startswith("malformed_arguments"):
            # kept as the model produced it; an error status, never graded as an answer
            return _End(
                Status.ERROR,
                error=f"malformed tool call from the model: {record.error}",
                error_kind="malformed_tool_call",
            )
    return None


def _failure(error: ProviderError | None) -> _End:
    if isinstance(error, ToolsUnsupported):
        return _End(Status.NO_TOOL_SUPPORT, error=error.describe(), error_kind=error.kind)
    return _End(
        Status.ERROR,
        error=error.describe() if error else "no reply",
        error_kind=error.kind if error else "unknown",
    )


def _record(work: WorkItem, transcript: _Transcript, end: _End, started_at: str) -> AttemptRecord:
    conf, item = work.configuration, work.item
    calls = [c.as_dict() for c in transcript.calls]
    return AttemptRecord(
        attempt_id=work.attempt_id,
        configuration=conf.name,
        model=conf.model_name,
        deployment=conf.deployment_name,
        suite=item.suite,
        item_id=item.item_id,
        category=item.category,
        harmful=item.harmful,
        attack=work.attack,
        sample_index=work.sample_index,
        request_hash=work.request_hash,
        prompt=item.prompt,
        messages=_json(transcript.messages),
        response=end.response,
        raw_response=end.raw_response,
        tool_calls=_json(calls) if calls else None,
        targets=_json(list(item.targets)) if item.targets else None,
        guard_events=_json([e.as_json() for e in transcript.events]) if transcript.events else None,
        model_calls=transcript.model_calls,
        finish_reason=transcript.finish_reason,
        status=end.status,
        error=end.error,
        error_kind=end.error_kind,
        tries=transcript.tries,
        latency_s=transcript.latency if transcript.model_calls else None,
        prompt_tokens=transcript.prompt_tokens if transcript.model_calls else None,
        completion_tokens=transcript.completion_tokens if transcript.model_calls else None,
        started_at=started_at,
        finished_at=now_iso(),
        item_meta=_json(item.meta) if item.meta else None,
        executed_target=_executed_target(item.targets, transcript.calls),
    )


def _executed_target(
    targets: tuple[dict[str, Any], ...], calls: list[ToolCallRecord]
) -> int | None:
    """1 if a call carried out one of the item's target actions, 0 if none did, None when the
    item declares none (the suite loader validated them)."""
    if not targets:
        return None
    declared = parse_targets(list(targets), file=None, where="targets")
    return 1 if executed_targets(declared, calls) else 0


def internal_error_record(work: WorkItem, error: str, started_at: str) -> AttemptRecord:
    return error_record(work, f"internal error: {error}", "internal", started_at)


def error_record(work: WorkItem, error: str, kind: str, started_at: str) -> AttemptRecord:
    """An ERROR attempt that sent nothing to the configuration (or nothing worth keeping)."""
    end = _End(Status.ERROR, error=error, error_kind=kind)
    return _record(work, _Transcript(list(work.messages)), end, started_at)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
