"""JSON: every table of the report, for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness.reporting._analysis import RunReport
from harness.reporting._compare import compare_json
from harness.reporting._registry import reporter
from harness.reporting._render import report_json

__all__ = ["Json"]


@reporter("json")
class Json:
    description = "every table of the report as JSON"

    def render(self, report: RunReport, out: Path | None) -> str:
        return json.dumps(report_json(report), indent=2, allow_nan=False)

    def compare(self, reports: Sequence[RunReport]) -> str:
        return compare_json(reports)
