"""Markdown: the report `harness run` prints, and `harness report`'s default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.reporting._analysis import RunReport
from harness.reporting._compare import compare_markdown
from harness.reporting._registry import reporter
from harness.reporting._render import markdown

__all__ = ["Markdown"]


@reporter("md")
class Markdown:
    description = "Markdown tables and warnings (the default)"

    def render(self, report: RunReport, out: Path | None) -> str:
        return markdown(report)

    def compare(self, reports: Sequence[RunReport]) -> str:
        return compare_markdown(reports)
