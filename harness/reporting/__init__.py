"""Reporting: per-configuration tables, like-for-like matrices, paired tests, figures, exports."""

from harness.reporting._analysis import RunReport, analyse_run
from harness.reporting._compare import manifest_differences, render_comparison
from harness.reporting._export import ExportFormat, attempt_table, label_table, write_table
from harness.reporting._render import CELL_COLUMNS, render, render_html, shown_cells

__all__ = [
    "CELL_COLUMNS",
    "ExportFormat",
    "RunReport",
    "analyse_run",
    "attempt_table",
    "label_table",
    "manifest_differences",
    "render",
    "render_comparison",
    "render_html",
    "shown_cells",
    "write_table",
]
