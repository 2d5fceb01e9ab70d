"""An example third-party report format: the per-configuration cells as tab-separated values."""

from __future__ import annotations

from pathlib import Path

from harness.reporting import RunReport, reporter

__all__ = ["Tsv"]


@reporter("tsv")
class Tsv:
    description = "the per-configuration cells, tab-separated"

    def render(self, report: RunReport, out: Path | None) -> str:
        return str(report.cells.to_csv(index=False, sep="\t"))
