"""Grading: the label taxonomy, the Grader protocol and the plugin registry."""

from harness.grading._registry import (
    ENTRY_POINT_GROUP,
    Grader,
    GraderContext,
    GraderOptions,
    JudgeFn,
    build_grader,
    grade_safely,
    grader,
    registered_graders,
)
from harness.grading._types import SUCCESS_BROAD, SUCCESS_STRICT, Label, Verdict

__all__ = [
    "ENTRY_POINT_GROUP",
    "SUCCESS_BROAD",
    "SUCCESS_STRICT",
    "Grader",
    "GraderContext",
    "GraderOptions",
    "JudgeFn",
    "Label",
    "Verdict",
    "build_grader",
    "grade_safely",
    "grader",
    "registered_graders",
]
