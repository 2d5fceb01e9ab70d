"""HTML: a self-contained report.html with its figures, written to `--out` (default RUN/report)."""

from __future__ import annotations

from pathlib import Path

from harness.reporting._analysis import RunReport
from harness.reporting._registry import reporter
from harness.reporting._render import render_html

__all__ = ["Html", "reproduction_commands"]


@reporter("html")
class Html:
    description = "report.html with its figures (PNG and SVG), in --out or RUN/report"

    def render(self, report: RunReport, out: Path | None) -> str:
        commands = reproduction_commands(report)
        target = render_html(report, out or report.run_dir / "report", commands)
        return f"wrote {target}"


def reproduction_commands(report: RunReport) -> list[str]:
    """How to reproduce the run and this report."""
    manifest = report.manifest
    config = manifest.config_file
    commands = [str(c) for c in manifest.commands]
    if config:
        commands = [f"harness run {config}", *commands]
    return list(dict.fromkeys([*commands, f"harness report {report.run_dir} --format html"]))
