"""The `keywords` guard: blocks a text in which any phrase (substring) or regular expression
occurs. Runs in-process: no request."""

from __future__ import annotations

import re
import time
from typing import Self

from pydantic import Field, model_validator

from harness._errors import ConfigError
from harness.config import GuardSpec
from harness.layers._guards import GuardContext, GuardOptions, GuardVerdict, Stage, guard_kind

__all__ = ["KeywordGuard", "KeywordOptions"]


class KeywordOptions(GuardOptions):
    phrases: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _has_a_phrase(self) -> Self:
        if not self.phrases and not self.patterns:
            raise ValueError("a 'keywords' guard needs phrases or patterns")
        return self


@guard_kind("keywords")
class KeywordGuard:
    """Blocks a message that contains one of the phrases or matches one of the patterns."""

    Options = KeywordOptions

    @classmethod
    def build(cls, spec: GuardSpec, context: GuardContext) -> KeywordGuard:
        return cls(spec, file=context.file, where=context.where)

    def __init__(self, spec: GuardSpec, *, file: str | None, where: str) -> None:
        options = spec.options
        assert isinstance(options, KeywordOptions), spec.kind  # parsed by the config
        self.label = spec.label
        flags = 0 if options.case_sensitive else re.IGNORECASE
        try:
            self._patterns = [re.compile(re.escape(p), flags) for p in options.phrases] + [
                re.compile(p, flags) for p in options.patterns
            ]
        except re.error as exc:
            raise ConfigError(
                f"invalid regular expression: {exc}",
                file=file,
                field=f"{where}.patterns",
                fix="fix or escape the pattern",
            ) from None

    async def check(self, text: str, stage: Stage) -> GuardVerdict:
        started = time.perf_counter()
        hits = tuple(p.pattern for p in self._patterns if p.search(text))
        return GuardVerdict(bool(hits), hits, latency_s=time.perf_counter() - started)
