"""Deployment layers: the safety layer (guards) around a model.

Guard kinds are an open registry (the `harness.guards` entry-point group): the built-ins
`keywords`, `model` and `moderation` are one module each, registered as a third-party kind is.
"""

from harness._templates import check_template, render_template
from harness.layers._guards import (
    GUARD_KINDS,
    CompleteFn,
    Guard,
    GuardContext,
    GuardOptions,
    GuardVerdict,
    ModerateFn,
    Stage,
    build_guard,
    describe_guard,
    guard_calls,
    guard_kind,
    guard_material,
    registered_guard_kinds,
)
from harness.layers._keywords import KeywordGuard, KeywordOptions
from harness.layers._model_guard import (
    LLAMA_GUARD_TEMPLATE,
    ModelGuard,
    ModelGuardOptions,
    parse_json_verdict,
    parse_llama_guard,
)
from harness.layers._moderation import ModerationGuard, ModerationOptions
from harness.layers._safety import GuardEvent, SafetyLayer, build_safety_layer

__all__ = [
    "GUARD_KINDS",
    "LLAMA_GUARD_TEMPLATE",
    "CompleteFn",
    "Guard",
    "GuardContext",
    "GuardEvent",
    "GuardOptions",
    "GuardVerdict",
    "KeywordGuard",
    "KeywordOptions",
    "ModelGuard",
    "ModelGuardOptions",
    "ModerateFn",
    "ModerationGuard",
    "ModerationOptions",
    "SafetyLayer",
    "Stage",
    "build_guard",
    "build_safety_layer",
    "check_template",
    "describe_guard",
    "guard_calls",
    "guard_kind",
    "guard_material",
    "parse_json_verdict",
    "parse_llama_guard",
    "registered_guard_kinds",
    "render_template",
]
