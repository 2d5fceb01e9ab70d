"""What the model-judged graders share: judge templates, rendering an attempt, and asking a
judge with strict parsing and bounded re-asks."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import Field

import graders
from harness import ConfigError
from harness.config import GenerationParams
from harness.grading import GraderContext, GraderOptions, JudgeFn
from harness.layers import check_template, render_template
from harness.providers import ChatRequest
from harness.store import AttemptRecord

__all__ = [
    "BUILTIN_TEMPLATES",
    "PLACEHOLDERS",
    "RAW_SEPARATOR",
    "AnswerFormat",
    "JudgeOptions",
    "JudgeOutcome",
    "JudgeTemplate",
    "ask_judge",
    "judge_rationale",
    "last_line",
    "load_template",
    "render_attempt",
]

BUILTIN_TEMPLATES = Path(graders.__file__).resolve().parents[1] / "prompts" / "judges"
PLACEHOLDERS = frozenset({"request", "response", "transcript"})
# between the raw outputs of successive asks in Verdict.raw
RAW_SEPARATOR = "\n\n===== re-ask =====\n\n"

T = TypeVar("T")


class JudgeOptions(GraderOptions):
    """Options every model-judged grader takes."""

    model: str = Field(description="a model declared under the config's `models`")
    max_reasks: int = Field(2, ge=0, le=10, description="re-asks after an unparseable answer")
    max_tokens: int = Field(256, gt=0, description="the judge's answer length limit")
    seed: int = Field(0, description="sent to providers that accept a seed")


@dataclass(frozen=True)
class JudgeTemplate:
    name: str  # the built-in name, or the path as written in the config
    text: str

    @property
    def uses_transcript(self) -> bool:
        return "{transcript}" in self.text


def load_template(
    template: str, builtin: Collection[str], context: GraderContext, *, grader: str
) -> JudgeTemplate:
    """A built-in template by name, or a file relative to the config's directory; its
    placeholders are checked now so that a typo fails before any request is sent."""
    field = f"{grader}.options.template"
    if template in builtin:
        path = BUILTIN_TEMPLATES / f"{template}.txt"
        if not path.is_file():
            raise ConfigError(
                f"built-in judge template '{template}' is missing ({path})",
                field=field,
                fix="reinstall the harness from its repository (prompts/judges/ ships with it)",
            )
    else:
        path = context.resolve_path(template)
        if not path.is_file():
            raise ConfigError(
                f"judge template file not found: {path}",
                field=field,
                fix=f"use one of {', '.join(sorted(builtin))}, or a file relative to the config",
            )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read judge template {path}: {exc}", field=field, fix="save it as UTF-8 text"
        ) from None
    check_template(text, set(PLACEHOLDERS), file=str(path), field=field)
    return JudgeTemplate(template, text)


def render_attempt(template: JudgeTemplate, attempt: AttemptRecord) -> str:
    values = {
        "request": attempt.prompt,
        "response": attempt.response or "",
        "transcript": transcript_text(attempt.messages) if template.uses_transcript else "",
    }
    return render_template(template.text, values)


def transcript_text(messages_json: str) -> str:
    """The stored conversation as plain `role: content` lines, tool calls included."""
    try:
        messages = json.loads(messages_json)
    except ValueError:
        return messages_json  # shown as stored rather than dropped
    if not isinstance(messages, list):
        return messages_json
    return "\n\n".join(_message_text(m) for m in messages if isinstance(m, dict))


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    text = f"{message.get('role', '?')}: {content or ''}"
    for call in message.get("tool_calls") or []:
        function = call.get("function", call) if isinstance(call, dict) else {}
        text += f"\n[tool call {function.get('name')}({function.get('arguments')})]"
    return text


def last_line(text: str) -> str:
    """The last non-blank line, stripped: where every judge format puts its answer."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class AnswerFormat(Generic[T]):
    """How a judge must answer, and the strict parser that reads the answer (None: malformed)."""

    expected: str  # e.g. "a last line `LABEL: <...>`", quoted in the correction and the error
    parse: Callable[[str], T | None]
    # every well-formed last line: providers that can constrain decoding allow only these
    choices: tuple[str, ...] = ()

    @property
    def correction(self) -> str:
        return (
            "Your reply did not follow the required answer format. Answer again, ending with "
            f"{self.expected}, and write nothing after it."
        )


@dataclass(frozen=True)
class JudgeOutcome(Generic[T]):
    value: T | None  # the parsed answer, or None
    raws: tuple[str, ...]  # every raw output, in order
    error: str | None  # a judge call failure, or why the answers could not be parsed

    @property
    def asks(self) -> int:
        return len(self.raws)

    @property
    def raw(self) -> str | None:
        return RAW_SEPARATOR.join(self.raws) if self.raws else None


def judge_rationale(
    options: JudgeOptions, template: JudgeTemplate, outcome: JudgeOutcome[Any]
) -> str:
    asks = outcome.asks
    return f"judge {options.model} via {template.name}, {asks} ask{'' if asks == 1 else 's'}"


async def ask_judge(
    judge: JudgeFn | None, options: JudgeOptions, prompt: str, fmt: AnswerFormat[T]
) -> JudgeOutcome[T]:
    """Ask, parse strictly, and on a malformed answer re-ask (with the answer and a correction
    appended) up to `max_reasks` times. Temperature is always 0: a judge must be repeatable."""
    if judge is None:
        return JudgeOutcome(None, (), "no judge available: grade within a run or `harness grade`")
    params = GenerationParams(temperature=0.0, max_tokens=options.max_tokens, seed=options.seed)
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    raws: list[str] = []
    for _ in range(options.max_reasks + 1):
        request = ChatRequest(tuple(messages), params, answer_choices=fmt.choices)
        reply, error = await judge(options.model, request)
        if reply is None or error is not None:
            return JudgeOutcome(None, tuple(raws), f"judge call failed: {error or 'no reply'}")
        text = reply.text or ""
        raws.append(text)
        value = fmt.parse(text)
        if value is not None:
            return JudgeOutcome(value, tuple(raws), None)
        # some APIs reject an empty assistant turn
        messages.append({"role": "assistant", "content": text or "(empty reply)"})
        messages.append({"role": "user", "content": fmt.correction})
    return JudgeOutcome(
        None,
        tuple(raws),
        f"judge output unparseable after {len(raws)} asks (expected {fmt.expected})",
    )
