"""The `moderation` guard: an OpenAI-compatible /v1/moderations endpoint; blocks on its
`flagged`, or on the categories whose score reaches a threshold."""

from __future__ import annotations

import time
from typing import Self

from pydantic import Field, field_validator, model_validator

from harness.config import GuardSpec
from harness.layers._guards import (
    GuardContext,
    GuardOptions,
    GuardVerdict,
    ModerateFn,
    Stage,
    guard_kind,
)

__all__ = ["ModerationGuard", "ModerationOptions"]


class ModerationOptions(GuardOptions):
    base_url: str | None = None
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    moderation_model: str | None = None
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="category → score at or above which to block"
    )
    concurrency: int = Field(8, ge=1)
    timeout: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _has_an_endpoint(self) -> Self:
        if not self.base_url:
            raise ValueError("a 'moderation' guard needs base_url")
        return self

    @field_validator("thresholds")
    @classmethod
    def _scores_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for category, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold for '{category}' must be within [0, 1]")
        return value


@guard_kind("moderation")
class ModerationGuard:
    """An OpenAI-compatible moderation endpoint; blocks what it flags or scores past a threshold."""

    Options = ModerationOptions
    calls = True

    @classmethod
    def build(cls, spec: GuardSpec, context: GuardContext) -> ModerationGuard:
        return cls(spec, context.moderate_for(spec))

    @classmethod
    def secrets(cls, options: ModerationOptions) -> list[str]:
        return [options.api_key_env] if options.api_key_env else []

    @classmethod
    def describe(cls, spec: GuardSpec) -> str:
        options = spec.options
        assert isinstance(options, ModerationOptions), spec.kind
        return f"{spec.label} (moderation at {options.base_url})"

    def __init__(self, spec: GuardSpec, moderate: ModerateFn) -> None:
        options = spec.options
        assert isinstance(options, ModerationOptions), spec.kind  # parsed by the config
        self.label: str = spec.label
        self._thresholds = dict(options.thresholds)
        self._moderate = moderate

    async def check(self, text: str, stage: Stage) -> GuardVerdict:
        started = time.perf_counter()
        scores, flagged, error = await self._moderate(text)
        latency = time.perf_counter() - started
        if error is not None or scores is None:
            return GuardVerdict(False, error=error or "no moderation result", latency_s=latency)
        if self._thresholds:
            hits = tuple(c for c, t in self._thresholds.items() if scores.get(c, 0.0) >= t)
        else:  # no thresholds: the endpoint's own `flagged` decides
            hits = tuple(c for c, s in scores.items() if s >= 0.5) if flagged else ()
            hits = hits or (("flagged",) if flagged else ())
        return GuardVerdict(bool(hits), hits, latency_s=latency, extra=dict(scores))
