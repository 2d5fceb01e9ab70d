"""A plugin whose import fails, as it would with a missing dependency."""

from __future__ import annotations

import harness_plugin_missing_dependency  # type: ignore[import-not-found]  # noqa: F401


class BrokenJudge:
    """Never reached: the import above fails."""
