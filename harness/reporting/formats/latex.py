"""LaTeX: booktabs tables for a paper."""

from __future__ import annotations

from pathlib import Path

from harness.reporting._analysis import RunReport
from harness.reporting._registry import reporter

__all__ = ["Latex"]


@reporter("latex")
class Latex:
    description = "booktabs tables for a paper"

    def render(self, report: RunReport, out: Path | None) -> str:
        from harness.reporting._latex import render_latex

        return render_latex(report)
