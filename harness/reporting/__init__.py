"""Reporting: per-configuration tables, like-for-like matrices, paired tests, figures, exports.

The names load on first use: most of them need pandas, and `harness run` needs only
`reach_warnings` until its report (pandas alone takes 0.3-0.5 s to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_exports

if TYPE_CHECKING:
    from harness.reporting._agreement import (
        agreement_json,
        agreement_markdown,
        agreement_report,
        jsonable,
        run_agreement_lines,
    )
    from harness.reporting._analysis import RunReport, analyse_run
    from harness.reporting._compare import manifest_differences
    from harness.reporting._export import ExportFormat, attempt_table, label_table, write_table
    from harness.reporting._label_tables import (
        LABEL_TABLE_SUFFIXES,
        load_collapse_map,
        read_label_table,
        run_label_table,
    )
    from harness.reporting._reach import reach_warnings
    from harness.reporting._registry import (
        REPORTERS,
        Comparer,
        Reporter,
        registered_reporters,
        render,
        render_comparison,
        reporter,
        reporter_for,
    )
    from harness.reporting._render import CELL_COLUMNS, render_html, shown_cells
    from harness.reporting._run_end import run_end_report

__all__ = [
    "CELL_COLUMNS",
    "LABEL_TABLE_SUFFIXES",
    "REPORTERS",
    "Comparer",
    "ExportFormat",
    "Reporter",
    "RunReport",
    "agreement_json",
    "agreement_markdown",
    "agreement_report",
    "analyse_run",
    "attempt_table",
    "jsonable",
    "label_table",
    "load_collapse_map",
    "manifest_differences",
    "reach_warnings",
    "read_label_table",
    "registered_reporters",
    "render",
    "render_comparison",
    "render_html",
    "reporter",
    "reporter_for",
    "run_agreement_lines",
    "run_end_report",
    "run_label_table",
    "shown_cells",
    "write_table",
]

_HOMES = {
    "agreement_json": "_agreement",
    "agreement_markdown": "_agreement",
    "agreement_report": "_agreement",
    "jsonable": "_agreement",
    "run_agreement_lines": "_agreement",
    "LABEL_TABLE_SUFFIXES": "_label_tables",
    "load_collapse_map": "_label_tables",
    "read_label_table": "_label_tables",
    "run_label_table": "_label_tables",
    "run_end_report": "_run_end",
    "RunReport": "_analysis",
    "analyse_run": "_analysis",
    "manifest_differences": "_compare",
    "ExportFormat": "_export",
    "attempt_table": "_export",
    "label_table": "_export",
    "write_table": "_export",
    "reach_warnings": "_reach",
    "CELL_COLUMNS": "_render",
    "REPORTERS": "_registry",
    "Comparer": "_registry",
    "Reporter": "_registry",
    "registered_reporters": "_registry",
    "render": "_registry",
    "render_comparison": "_registry",
    "reporter": "_registry",
    "reporter_for": "_registry",
    "render_html": "_render",
    "shown_cells": "_render",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals(), __all__)
