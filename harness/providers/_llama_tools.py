"""Prompts and tool calls for in-process GGUF models, which have no tool-calling API of their own.

The model is told the tools and one call format, `<tool_call>{"name": ..., "arguments": {...}}
</tool_call>`; a GBNF grammar then lets each reply be either that call, well formed for one of
the offered tools, or plain text that does not start with a call. The model chooses between the
two itself (the grammar never forces a call); only the shape of a call is constrained.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "call_schema",
    "chat_messages",
    "choice_grammar",
    "parse_tool_call",
    "render_base_prompt",
    "tool_instructions",
    "union_grammar",
]

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
_NAME = re.compile(r'"name"\s*:\s*"([^"]*)"')


def tool_instructions(tools: Sequence[Mapping[str, Any]]) -> str:
    """What the model is told about the tools, in the system part of its prompt."""
    lines = [
        "You can use tools. To use one, reply with exactly one line and nothing else:",
        f'{CALL_OPEN}{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}{CALL_CLOSE}',
        "The tool's result comes back in the next turn. To answer without a tool, reply in text.",
        "For example:",
        "User: What is the weather in Paris?",
        f'Assistant: {CALL_OPEN}{{"name": "get_weather", "arguments": {{"city": "Paris"}}}}'
        f"{CALL_CLOSE}",
        "Tools you can use now:",
    ]
    for tool in tools:
        parameters = json.dumps(tool.get("parameters") or {}, separators=(",", ":"))
        lines.append(f"- {tool['name']}: {tool.get('description') or ''} Arguments: {parameters}")
    return "\n".join(lines)


def _call_text(call: Mapping[str, Any]) -> str:
    function = call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = function.get("arguments")
    body = json.dumps({"name": function.get("name"), "arguments": arguments})
    return f"{CALL_OPEN}{body}{CALL_CLOSE}"


def _as_text(message: Mapping[str, Any]) -> tuple[str, str]:
    """A message of the OpenAI shape as (role, text): tool calls and results written out."""
    role = str(message["role"])
    content = str(message.get("content") or "")
    if role == "assistant" and message.get("tool_calls"):
        calls = "\n".join(_call_text(c) for c in message["tool_calls"])
        return role, f"{content}\n{calls}".strip()
    if role == "tool":
        return "user", f"Tool result: {content}"
    return role, content


def render_base_prompt(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] = ()
) -> str:
    """A plain transcript for base models, which have no chat template."""
    lines: list[str] = []
    system = [str(m.get("content") or "") for m in messages if m["role"] == "system"]
    if tools:
        system.append(tool_instructions(tools))
    lines.extend(f"{text}\n" for text in system)
    for message in messages:
        if message["role"] == "system":
            continue
        role, text = _as_text(message)
        lines.append(f"{'Assistant' if role == 'assistant' else 'User'}: {text}")
    lines.append("Assistant:")
    return "\n".join(lines)


def chat_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, str]]:
    """Messages for a chat template: tool instructions joined to the system message, tool calls
    and results written as text (most GGUF chat templates know no tool roles)."""
    out: list[dict[str, str]] = []
    system = [str(m.get("content") or "") for m in messages if m["role"] == "system"]
    if tools:
        system.append(tool_instructions(tools))
    if system:
        out.append({"role": "system", "content": "\n\n".join(system)})
    for message in messages:
        if message["role"] != "system":
            role, text = _as_text(message)
            out.append({"role": role, "content": text})
    return out


# small models repeat list items, and words in a string, until the token budget runs out (the
# call then ends as malformed JSON): a call's lists and free-text strings are bounded
MAX_ITEMS = 8
MAX_CHARS = 100
# strings whose shape is given otherwise: a length bound would add nothing or conflict
_SHAPED = ("enum", "const", "pattern", "format")


def _bounded(schema: Any) -> Any:
    """The schema with every array given at most MAX_ITEMS items and every free-text string
    at most MAX_CHARS characters (unless it sets fewer)."""
    if isinstance(schema, list):
        return [_bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bounded(value) for key, value in schema.items()}
    if bounded.get("type") == "array":
        bounded["maxItems"] = min(int(bounded.get("maxItems", MAX_ITEMS)), MAX_ITEMS)
    if bounded.get("type") == "string" and not any(key in bounded for key in _SHAPED):
        bounded["maxLength"] = min(int(bounded.get("maxLength", MAX_CHARS)), MAX_CHARS)
    return bounded


def call_schema(tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """JSON Schema of one call of one of the tools: its name and arguments fit its parameters."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["name"]},
                "arguments": _bounded(tool.get("parameters") or {"type": "object"}),
            },
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"oneOf": options}


def union_grammar(call_json_grammar: str) -> str:
    """A reply that is either one tool call or text not starting with one.

    `call_json_grammar` is the GBNF of `call_schema` (llama.cpp's JSON-Schema converter); its
    `root` rule is renamed so that the union can be the root.
    """
    renamed = "\n".join(
        "harness-call-json ::=" + line[len("root ::=") :] if line.startswith("root ::=") else line
        for line in call_json_grammar.splitlines()
    )
    return (
        "root ::= [ \\n]? (harness-call | harness-text)\n"
        f'harness-call ::= "{CALL_OPEN}" harness-call-json "{CALL_CLOSE}"\n'
        "harness-text ::= [^< \\n] [^\\x00]*\n"
        f"{renamed}\n"
    )


def choice_grammar(choices: Sequence[str]) -> str:
    """GBNF for a reply that is exactly one of `choices`, after at most one blank: a model
    allowed any number of them may spend its whole `max_tokens` on blanks (seen with the
    270M model on a prompt without instructions), and its answer is then empty."""
    alternatives = " | ".join(json.dumps(choice) for choice in choices)
    return f"root ::= [ \\n]? ({alternatives})\n"


def parse_tool_call(text: str) -> tuple[str, str] | None:
    """(name, arguments as JSON text) of a reply that is a tool call, None for a text reply."""
    stripped = text.strip()
    if not stripped.startswith(CALL_OPEN):
        return None
    body = stripped[len(CALL_OPEN) :]
    if body.endswith(CALL_CLOSE):
        body = body[: -len(CALL_CLOSE)]
    try:
        call = json.loads(body)
    except json.JSONDecodeError:
        # kept as the model produced it: the agent loop stores it as a malformed call
        named = _NAME.search(body)
        return (named.group(1) if named else ""), body
    if not isinstance(call, dict):
        return "", body
    return str(call.get("name") or ""), json.dumps(call.get("arguments", {}))
