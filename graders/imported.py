"""`imported`: the verdicts of another tool's scorer, as `harness import` stored them.

`harness import` reads a scorer's values from an Inspect, garak, promptfoo, HarmBench or
JailbreakBench log, maps them onto the taxonomy (each format's table is in its reader's
docstring and the README), and keeps them with each attempt (`item_meta.imported_raters`). This
grader gives them back as the rater they came from, so `harness grade RUN` re-grading every
grader of an imported run reproduces them, and `harness agree` compares them with ours. An
attempt the tool did not score is UNPARSEABLE ("no imported verdict"), never a guess.
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import Field

from harness.grading import GraderContext, GraderOptions, Label, Verdict, grader
from harness.ingest import META_KEY
from harness.store import AttemptRecord

__all__ = ["Imported", "ImportedOptions"]


class ImportedOptions(GraderOptions):
    rater: str = Field(description="the imported rater, e.g. garak.dan.DAN or inspect.includes")
    human: bool = Field(
        False,
        description="the labels are people's (a benchmark's annotators), not a tool's: the "
        "report takes them as its human reference",
    )


@grader("imported")
class Imported:
    """An imported scorer's stored verdicts (from `harness import`), as a rater."""

    Options = ImportedOptions
    validity_note: ClassVar[str] = (
        "unvalidated: the imported tool's own scorer; measure it against human labels"
    )

    def __init__(self, options: ImportedOptions, context: GraderContext) -> None:
        self.rater = options.rater

    async def grade(self, attempt: AttemptRecord) -> Verdict:
        try:
            meta = json.loads(attempt.item_meta or "{}")
        except ValueError:
            meta = {}
        found = (meta.get(META_KEY) or {}).get(self.rater) if isinstance(meta, dict) else None
        if not isinstance(found, dict):
            return Verdict(Label.UNPARSEABLE, error="no imported verdict")
        return Verdict(
            Label(found["label"]),
            score=found.get("score"),
            rationale=found.get("rationale"),
            raw=found.get("raw"),
            error=found.get("error"),
        )
