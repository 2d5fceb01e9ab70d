"""Grading: the label taxonomy, the Grader protocol and the plugin registry."""

# the labels are defined on the ground floor (harness.core); re-exported here because graders,
# plugins included, import them from harness.grading
from harness.core import SUCCESS_BROAD, SUCCESS_STRICT, Label, Verdict
from harness.grading._registry import (
    ENTRY_POINT_GROUP,
    GRADERS,
    Grader,
    GraderContext,
    GraderOptions,
    JudgeFn,
    build_grader,
    grade_safely,
    grader,
    grader_class,
    registered_graders,
)
from harness.grading._validity import (
    UNVALIDATED,
    ValidityCard,
    card_for,
    cards_of,
    describe_validity,
    four_class,
    load_cards,
    measure_validity,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "GRADERS",
    "SUCCESS_BROAD",
    "SUCCESS_STRICT",
    "UNVALIDATED",
    "Grader",
    "GraderContext",
    "GraderOptions",
    "JudgeFn",
    "Label",
    "ValidityCard",
    "Verdict",
    "build_grader",
    "card_for",
    "cards_of",
    "describe_validity",
    "four_class",
    "grade_safely",
    "grader",
    "grader_class",
    "load_cards",
    "measure_validity",
    "registered_graders",
]
