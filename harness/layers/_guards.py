"""What every guard kind shares: the Guard protocol, its verdict, and the guard-kind registry.

A deployment's `safety_layer` lists guards by `kind`, a name registered in the `harness.guards`
entry-point group (the built-ins keywords, model and moderation included, one module each). A
guard kind is a class that implements `Guard` (`label`, async `check(text, stage)`) and
declares:

- `build(spec, context)`, a classmethod that builds it for one `GuardSpec`;
- `Options`, a `PluginOptions` model of its own keys in the guard's entry (e.g. `phrases`),
  strict like the rest of the config; `spec.options` is the parsed instance;
- `calls` (default False): whether each check sends a request (counted in `harness validate`'s
  plan).

Optional classmethod hooks, each given the parsed options: `default_label(options)` (the
name results use when the guard has none; default: the kind), `models(options)` (models under
`models` it calls: the config checks they are defined), `secrets(options)` (environment
variables it needs: `harness run` refuses to start without them), `material(options,
base_dir)` (the text, or a Path to the file, that decides its verdicts beyond its keys: hashed
into each request's identity) and `describe(spec)` (one phrase for the plan).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar, cast

from harness._plugins import GUARD_KINDS, PluginOptions
from harness.config import GuardSpec
from harness.providers import ChatRequest

__all__ = [
    "GUARD_KINDS",
    "CompleteFn",
    "Guard",
    "GuardContext",
    "GuardOptions",
    "GuardVerdict",
    "ModerateFn",
    "Stage",
    "build_guard",
    "describe_guard",
    "guard_calls",
    "guard_kind",
    "guard_material",
    "registered_guard_kinds",
]

Stage = Literal["input", "output"]


@dataclass(frozen=True)
class GuardVerdict:
    """A guard's decision on one text; `error` set means the guard itself failed."""

    block: bool
    categories: tuple[str, ...] = ()
    error: str | None = None
    raw: str | None = None
    latency_s: float = 0.0
    extra: Mapping[str, float] = field(default_factory=dict)


class Guard(Protocol):
    label: str

    async def check(self, text: str, stage: Stage) -> GuardVerdict: ...


class CompleteFn(Protocol):
    async def __call__(self, model: str, request: ChatRequest) -> tuple[str | None, str | None]:
        """(text, error) from the named model, through its channel."""
        ...


class ModerateFn(Protocol):
    async def __call__(self, text: str) -> tuple[Mapping[str, float] | None, bool, str | None]:
        """(scores, flagged, error) from the moderation endpoint."""
        ...


class GuardOptions(PluginOptions):
    """Base of a guard kind's own keys (unknown keys are errors)."""


@dataclass(frozen=True)
class GuardContext:
    """What a guard may need from the run beyond its own keys."""

    # a model declared under `models`, through its channel (limits, retries, budget)
    complete: CompleteFn
    # an OpenAI-compatible moderation endpoint for this guard, through a channel with retries
    moderate_for: Callable[[GuardSpec], ModerateFn]
    base_dir: Path  # relative paths in the guard's keys are relative to it
    file: str | None  # the config file, for errors
    where: str  # the guard's place in the config, e.g. deployments.d.safety_layer.input[0]


class GuardKind(Protocol):
    @classmethod
    def build(cls, spec: GuardSpec, context: GuardContext) -> Guard: ...


GuardClass = TypeVar("GuardClass", bound=type)


def guard_kind(name: str) -> Callable[[GuardClass], GuardClass]:
    """Register a guard class under `name` (what a guard's `kind:` says)."""
    return GUARD_KINDS.register(name)  # type: ignore[return-value]


def registered_guard_kinds() -> dict[str, type]:
    return GUARD_KINDS.all()


def build_guard(spec: GuardSpec, context: GuardContext) -> Guard:
    kind = cast(GuardKind, GUARD_KINDS.get(spec.kind, file=context.file, field=context.where))
    return kind.build(spec, context)


def guard_calls(spec: GuardSpec) -> bool:
    """Whether each check of this guard sends a request."""
    return bool(getattr(GUARD_KINDS.get(spec.kind), "calls", False))


def guard_material(spec: GuardSpec, base_dir: Path) -> str | Path | None:
    hook = getattr(GUARD_KINDS.get(spec.kind), "material", None)
    return cast("str | Path | None", hook(spec.options, base_dir)) if hook is not None else None


def describe_guard(spec: GuardSpec) -> str:
    hook = getattr(GUARD_KINDS.get(spec.kind), "describe", None)
    if hook is not None:
        return str(hook(spec))
    return spec.label if spec.name is None else f"{spec.name} ({spec.kind})"
