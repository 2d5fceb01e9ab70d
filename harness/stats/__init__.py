"""Statistics: intervals for rates."""

from harness.stats._intervals import wilson_interval

__all__ = ["wilson_interval"]
