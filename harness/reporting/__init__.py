"""Reporting: per-configuration tables and exports."""

from harness.reporting._export import ExportFormat, attempt_table, write_table
from harness.reporting._table import (
    RATE_COLUMNS,
    configuration_table,
    format_table,
    labelled_attempts,
)

__all__ = [
    "RATE_COLUMNS",
    "ExportFormat",
    "attempt_table",
    "configuration_table",
    "format_table",
    "labelled_attempts",
    "write_table",
]
