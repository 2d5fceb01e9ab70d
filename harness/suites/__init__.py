"""Prompt suites: local files or Hugging Face datasets, mapped to typed items."""

from harness.suites._load import LoadedSuite, SuiteItem, coerce_harmful, load_suite, load_table

__all__ = ["LoadedSuite", "SuiteItem", "coerce_harmful", "load_suite", "load_table"]
