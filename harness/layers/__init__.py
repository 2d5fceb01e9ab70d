"""Deployment layers: the safety layer (guards) around a model."""

from harness._templates import check_template, render_template
from harness.layers._guards import (
    LLAMA_GUARD_TEMPLATE,
    CompleteFn,
    Guard,
    GuardVerdict,
    KeywordGuard,
    ModelGuard,
    ModerateFn,
    ModerationGuard,
    parse_json_verdict,
    parse_llama_guard,
)
from harness.layers._safety import GuardEvent, SafetyLayer, build_safety_layer

__all__ = [
    "LLAMA_GUARD_TEMPLATE",
    "CompleteFn",
    "Guard",
    "GuardEvent",
    "GuardVerdict",
    "KeywordGuard",
    "ModelGuard",
    "ModerateFn",
    "ModerationGuard",
    "SafetyLayer",
    "build_safety_layer",
    "check_template",
    "parse_json_verdict",
    "parse_llama_guard",
    "render_template",
]
