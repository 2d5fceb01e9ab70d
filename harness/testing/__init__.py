"""Test doubles for the harness: a real-socket scripted fake LLM API server."""

from harness.testing._server import (
    Fault,
    FaultKind,
    Quirks,
    RecordedRequest,
    Rule,
    ScriptedServer,
    ToolCall,
    default_moderation_scores,
)

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
