"""The safety layer of a deployment: input guards before the model, output guards after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from harness.config import GuardSpec, SafetyLayerSpec
from harness.layers._guards import (
    CompleteFn,
    Guard,
    GuardContext,
    GuardVerdict,
    ModerateFn,
    Stage,
    build_guard,
)

__all__ = ["GuardEvent", "SafetyLayer", "build_safety_layer"]

Decision = Literal["allow", "block"]


@dataclass(frozen=True)
class GuardEvent:
    """One guard's decision on one text, as stored with the attempt."""

    stage: Stage
    turn: int
    guard: str
    decision: Decision
    failed: bool  # the guard errored and `on_error` decided
    categories: tuple[str, ...]
    latency_s: float
    error: str | None
    raw: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class SafetyLayer:
    def __init__(
        self, spec: SafetyLayerSpec, input_guards: list[Guard], output_guards: list[Guard]
    ) -> None:
        self.refusal_text = spec.refusal_text
        self._on_error: Decision = spec.on_error
        self._guards: dict[Stage, list[Guard]] = {"input": input_guards, "output": output_guards}

    async def screen(self, text: str, stage: Stage, turn: int) -> tuple[bool, list[GuardEvent]]:
        """Run every guard of the stage (concurrently); blocked if any of them blocks."""
        guards = self._guards[stage]
        if not guards:
            return False, []
        verdicts = await asyncio.gather(*(g.check(text, stage) for g in guards))
        events = [self._event(g, v, stage, turn) for g, v in zip(guards, verdicts, strict=True)]
        return any(e.decision == "block" for e in events), events

    def _event(self, guard: Guard, verdict: GuardVerdict, stage: Stage, turn: int) -> GuardEvent:
        failed = verdict.error is not None
        decision: Decision = self._on_error if failed else ("block" if verdict.block else "allow")
        return GuardEvent(
            stage,
            turn,
            guard.label,
            decision,
            failed,
            verdict.categories,
            round(verdict.latency_s, 6),
            verdict.error,
            verdict.raw,
        )


def build_safety_layer(
    spec: SafetyLayerSpec,
    *,
    complete: CompleteFn,
    moderate_for: Callable[[GuardSpec], ModerateFn],
    base_dir: Path,
    file: str | None,
    where: str,
) -> SafetyLayer:
    def build(guard: GuardSpec, field: str) -> Guard:
        return build_guard(guard, GuardContext(complete, moderate_for, base_dir, file, field))

    return SafetyLayer(
        spec,
        [build(g, f"{where}.input[{i}]") for i, g in enumerate(spec.input)],
        [build(g, f"{where}.output[{i}]") for i, g in enumerate(spec.output)],
    )
