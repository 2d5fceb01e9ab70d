"""HTML: a self-contained report.html with its figures, written to `--out` (default RUN/report)."""

from __future__ import annotations

from pathlib import Path

from harness.reporting._analysis import RunReport
from harness.reporting._registry import reporter
from harness.reporting._render import render_html

__all__ = ["Html"]


@reporter("html")
class Html:
    description = "report.html with its figures (PNG and SVG), in --out or RUN/report"

    def render(self, report: RunReport, out: Path | None) -> str:
        target = render_html(report, out or report.run_dir / "report", report.commands)
        return f"wrote {target}"
