"""An example third-party guard kind: blocks texts longer than `max_chars`."""

from __future__ import annotations

from pydantic import Field

from harness.config import GuardSpec
from harness.layers import GuardContext, GuardOptions, GuardVerdict, Stage, guard_kind

__all__ = ["LengthGuard", "LengthGuardOptions"]


class LengthGuardOptions(GuardOptions):
    max_chars: int = Field(ge=1, description="texts longer than this are blocked")


@guard_kind("max_length")
class LengthGuard:
    Options = LengthGuardOptions

    @classmethod
    def build(cls, spec: GuardSpec, context: GuardContext) -> LengthGuard:
        options = spec.options
        assert isinstance(options, LengthGuardOptions)
        return cls(spec.label, options.max_chars)

    def __init__(self, label: str, max_chars: int) -> None:
        self.label = label
        self._max = max_chars

    async def check(self, text: str, stage: Stage) -> GuardVerdict:
        too_long = len(text) > self._max
        return GuardVerdict(too_long, ("too_long",) if too_long else ())
