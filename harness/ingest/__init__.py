"""Bringing existing completions into a run store."""

from harness.ingest._import import ImportColumns, import_completions

__all__ = ["ImportColumns", "import_completions"]
