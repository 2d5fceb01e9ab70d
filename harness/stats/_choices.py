"""The named choices of the agreement statistics, importable without NumPy or pandas (the CLI
checks its options against them before loading the statistics)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["LEVELS", "POLICIES", "Level", "UndecidablePolicy"]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
UndecidablePolicy = Literal["exclude", "as_missing", "as_category"]
LEVELS: tuple[Level, ...] = get_args(Level)
POLICIES: tuple[UndecidablePolicy, ...] = get_args(UndecidablePolicy)
