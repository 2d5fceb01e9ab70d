"""The value types of simulated tools: what the model is offered, and what a call left behind."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from harness.tools._world import World

__all__ = [
    "TOOL_NAME_PATTERN",
    "Outcome",
    "Simulator",
    "ToolCallRecord",
    "ToolDefinition",
    "ToolFailure",
    "ToolSpec",
    "frozen",
    "parse_call_log",
    "plain",
]

# The intersection of what OpenAI and Anthropic accept as a tool name.
TOOL_NAME_PATTERN = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,63}")


def plain(value: Any) -> Any:
    """A deep copy made of dicts and lists only, so callers can mutate or json.dumps it freely."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def frozen(value: Any) -> Any:
    """A read-only deep copy (mappings become MappingProxyType, lists tuples)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class ToolSpec:
    """What the model is told about a tool: its name, what it does, and its JSON Schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]  # JSON Schema of the arguments; stored read-only

    def __post_init__(self) -> None:
        if not TOOL_NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"invalid tool name {self.name!r}: must match {TOOL_NAME_PATTERN}")
        # Catalog specs are shared by every environment: a caller editing one must not edit all.
        object.__setattr__(self, "parameters", frozen(self.parameters))

    def openai(self) -> dict[str, Any]:
        """The Chat Completions `tools[]` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": plain(self.parameters),
            },
        }

    def anthropic(self) -> dict[str, Any]:
        """The Messages API `tools[]` entry."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": plain(self.parameters),
        }


@dataclass(frozen=True)
class ToolCallRecord:
    """One call the model made, whether or not it succeeded, and what it did to the world."""

    step: int
    call_id: str | None
    name: str
    arguments_raw: str
    arguments: dict[str, Any] | None  # None when the JSON was malformed
    observation: str  # what the model is shown
    # "malformed_arguments: ...", "unknown_tool: ...", "invalid_arguments: ...",
    # "tool_error: ..." (the simulated tool refused, e.g. no such file), or None on success
    error: str | None
    effect: Mapping[str, Any] = field(default_factory=dict)  # {} for reads and failed calls

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy, for storing the call log with the attempt."""
        return {
            "step": self.step,
            "call_id": self.call_id,
            "name": self.name,
            "arguments_raw": self.arguments_raw,
            "arguments": plain(self.arguments),
            "observation": self.observation,
            "error": self.error,
            "effect": plain(self.effect),
        }


class Outcome(NamedTuple):
    """What a simulator returns: the model-facing text and the simulated side effect."""

    observation: str
    effect: dict[str, Any]


class ToolFailure(Exception):
    """Raised by a simulator when the simulated tool refuses (no such file, unknown door...).

    The call is recorded with error "tool_error: <message>": the act did not happen.
    """


# Simulators receive arguments already validated against the tool's schema.
Simulator = Callable[["World", dict[str, Any]], Outcome]


@dataclass(frozen=True)
class ToolDefinition:
    """A catalog entry: the spec the model sees, the simulator, and the observation format."""

    spec: ToolSpec
    simulate: Simulator
    observation: str  # documents what the model is shown on success


def parse_call_log(raw: str | None) -> list[ToolCallRecord]:
    """The stored call log (a JSON list of call dicts as the runner writes them)."""
    if raw is None or not raw.strip():
        return []
    data = json.loads(raw)
    if not isinstance(data, list):
        raise ValueError("tool_calls is not a JSON list")
    return [_call(i, entry) for i, entry in enumerate(data)]


def _call(index: int, entry: Any) -> ToolCallRecord:
    """One entry of the log, as `ToolCallRecord.as_dict` wrote it."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ValueError(f"tool call {index} is not a mapping with a 'name'")
    arguments = entry.get("arguments")
    error = entry.get("error")
    return ToolCallRecord(
        step=int(entry.get("step") or 0),
        call_id=entry.get("id", entry.get("call_id")),
        name=entry["name"],
        arguments_raw=str(entry.get("arguments_raw") or ""),
        arguments=arguments if isinstance(arguments, dict) else None,
        observation=str(entry.get("observation") or ""),
        error=None if error is None else str(error),
        effect=entry.get("effect") or {},
    )
