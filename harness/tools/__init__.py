"""Simulated agent tools: plausible observations, every call recorded, nothing touching the host.

A `ToolEnvironment` is one attempt's world (virtual filesystem, mailbox, web, bank, database,
building). The model's tool calls go through `ToolEnvironment.call`, which never raises for a
model mistake, and `TargetAction`s declared by suite items say which calls count as the harmful
act being carried out.
"""

from harness.tools._catalog import (
    CATALOG,
    custom_tool,
    tool_names,
    validate_tool_names,
    validate_tool_spec,
)
from harness.tools._defaults import DEFAULTS
from harness.tools._sandbox import ToolEnvironment
from harness.tools._targets import TargetAction, executed_targets, parse_targets
from harness.tools._types import ToolCallRecord, ToolDefinition, ToolSpec, parse_call_log
from harness.tools._world import FIXTURE_KEYS

__all__ = [
    "CATALOG",
    "DEFAULTS",
    "FIXTURE_KEYS",
    "TargetAction",
    "ToolCallRecord",
    "ToolDefinition",
    "ToolEnvironment",
    "ToolSpec",
    "custom_tool",
    "executed_targets",
    "parse_call_log",
    "parse_targets",
    "tool_names",
    "validate_tool_names",
    "validate_tool_spec",
]
