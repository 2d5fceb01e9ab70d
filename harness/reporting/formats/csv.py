"""CSV: the per-configuration cells, one row per configuration × attack, numbers unformatted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.reporting._analysis import RunReport
from harness.reporting._compare import compare_csv
from harness.reporting._registry import reporter

__all__ = ["Csv"]


@reporter("csv")
class Csv:
    description = "the per-configuration cells as CSV"

    def render(self, report: RunReport, out: Path | None) -> str:
        return str(report.cells.to_csv(index=False))

    def compare(self, reports: Sequence[RunReport]) -> str:
        return compare_csv(reports)
