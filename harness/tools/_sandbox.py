"""`ToolEnvironment`: one attempt's simulated world, the tools offered in it, and its call log.

Sandbox guarantee: a call runs only a simulator over in-memory state. No simulator imports
`subprocess`, `socket` or a file API, and the virtual filesystem is a dict, so no argument can
spawn a process, reach the network or touch the host disk (tests/test_tools.py proves it).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from harness.tools._catalog import CATALOG, validate_tool_names
from harness.tools._schema import json_kind, validate
from harness.tools._types import ToolCallRecord, ToolDefinition, ToolFailure, ToolSpec
from harness.tools._world import World, build_world

__all__ = ["ToolEnvironment"]


class _Result(NamedTuple):
    arguments: dict[str, Any] | None
    observation: str
    error: str | None
    effect: dict[str, Any]


class _Malformed(ValueError):
    """The arguments text is not a JSON object."""


def _reject_constant(name: str) -> float:
    # NaN and Infinity are not JSON, though Python's json module accepts them by default.
    raise _Malformed(f"{name} is not valid JSON")


def parse_arguments(raw: str) -> dict[str, Any]:
    """The arguments object; "" means no arguments (some providers send it for empty calls)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:  # absurdly deep nesting: the model's mistake, not a crash
        raise _Malformed("nesting too deep") from None
    except ValueError as exc:
        raise _Malformed(str(exc)) from None
    if not isinstance(value, dict):
        raise _Malformed(f"expected a JSON object, got {json_kind(value)}")
    return value


class ToolEnvironment:
    """Per-attempt simulated world: the tools offered, their state, and every call made.

    `scratch` is accepted for callers that allot a per-attempt directory, but the filesystem
    is virtual (in memory), so nothing is ever written there. `custom` adds user-declared
    tools (see `custom_tool`). Ids in observations depend only on `seed` and the call order.
    """

    def __init__(
        self,
        tools: Sequence[str],
        *,
        scratch: Path | None = None,
        seed: int = 0,
        fixtures: Mapping[str, Any] | None = None,
        custom: Sequence[ToolDefinition] = (),
    ) -> None:
        validate_tool_names(tools, file=None, where="tools")
        self._tools: dict[str, ToolDefinition] = {name: CATALOG[name] for name in tools}
        for definition in custom:
            if definition.spec.name in self._tools:
                raise ValueError(f"tool '{definition.spec.name}' is declared twice")
            self._tools[definition.spec.name] = definition
        self.specs: tuple[ToolSpec, ...] = tuple(d.spec for d in self._tools.values())
        self.scratch = scratch
        self.seed = seed
        self.world: World = build_world(seed, fixtures)
        self.calls: list[ToolCallRecord] = []

    def call(
        self,
        name: str,
        arguments: str | Mapping[str, Any],
        *,
        call_id: str | None = None,
        step: int = 0,
    ) -> ToolCallRecord:
        """Runs one tool call and records it. Model mistakes never raise: they become an
        error observation the model sees, recorded with `error`.

        `arguments` is the JSON text (OpenAI) or an already-parsed mapping (Anthropic).
        """
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str)
        result = self._run(name, raw)
        record = ToolCallRecord(
            step=step,
            call_id=call_id,
            name=name,
            arguments_raw=raw,
            arguments=result.arguments,
            observation=result.observation,
            error=result.error,
            effect=result.effect,
        )
        self.calls.append(record)
        return record

    def _run(self, name: str, raw: str) -> _Result:
        try:
            arguments: dict[str, Any] | None = parse_arguments(raw)
            malformed = None
        except _Malformed as exc:
            arguments, malformed = None, str(exc)
        definition = self._tools.get(name)
        if definition is None:
            available = ", ".join(self._tools) or "none"
            text = f"Error: there is no tool named {name!r}. Available tools: {available}."
            return _Result(arguments, text, f"unknown_tool: {name!r}", {})
        if arguments is None:
            text = f"Error: the arguments are not valid JSON ({malformed}). Send a JSON object."
            return _Result(None, text, f"malformed_arguments: {malformed}", {})
        problems = validate(definition.spec.parameters, arguments)
        if problems:
            detail = "; ".join(problems)
            text = f"Error: invalid arguments for {name}: {detail}"
            return _Result(arguments, text, f"invalid_arguments: {detail}", {})
        return self._simulate(definition, arguments)

    def _simulate(self, definition: ToolDefinition, arguments: dict[str, Any]) -> _Result:
        # A copy, so a simulator keeping arguments in the world cannot alter the record.
        try:
            outcome = definition.simulate(self.world, copy.deepcopy(arguments))
        except ToolFailure as exc:
            return _Result(arguments, f"Error: {exc}", f"tool_error: {exc}", {})
        # Any other exception is a simulator bug, not a model mistake: it keeps its traceback.
        # A copy, so later changes to the world (which may share objects) cannot alter it.
        return _Result(arguments, outcome.observation, None, copy.deepcopy(outcome.effect))
