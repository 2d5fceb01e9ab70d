"""The grader registry: fed by the @grader decorator and the `harness.graders` entry points.

Built-in graders (the top-level `graders` package) register through the same entry-point group
as third-party plugins; HARNESS_LOAD_PLUGINS limits which distributions load (see
`harness._plugins`, which every registry shares).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from harness._errors import ConfigError, UserError
from harness._paths import resolve_relative
from harness._plugins import Registry
from harness.core import AttemptRecord, Label, Verdict

if TYPE_CHECKING:  # a report loads graders' labels, not the HTTP stack
    from harness.providers import ChatRequest, Reply

__all__ = [
    "ENTRY_POINT_GROUP",
    "GRADERS",
    "Grader",
    "GraderContext",
    "GraderOptions",
    "JudgeFn",
    "build_grader",
    "grade_safely",
    "grader",
    "grader_class",
    "registered_graders",
]

ENTRY_POINT_GROUP = "harness.graders"


@runtime_checkable
class Grader(Protocol):
    """Reads one stored attempt and returns a verdict. Must not mutate the attempt."""

    async def grade(self, attempt: AttemptRecord) -> Verdict: ...


class GraderOptions(BaseModel):
    """Base for a grader's options: unknown keys are errors, as everywhere in a config."""

    # defer_build: built at first use, as in harness.config._models
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class JudgeFn(Protocol):
    async def __call__(self, model: str, request: ChatRequest) -> tuple[Reply | None, str | None]:
        """The reply of a model declared in the config, or None and the error."""
        ...


@dataclass(frozen=True)
class GraderContext:
    """What a grader may need from the experiment beyond its options."""

    base_dir: Path = field(default_factory=Path.cwd)
    # calls a model declared under `models`, through the run's limits and retries
    judge: JudgeFn | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def resolve_path(self, path: str | Path) -> Path:
        """A path an option names, as the config means it: relative to its directory."""
        return resolve_relative(path, self.base_dir)


GraderClass = TypeVar("GraderClass", bound=type)
GRADERS: Registry[type] = Registry(ENTRY_POINT_GROUP, "grader", "graders")


def grader(name: str) -> Callable[[GraderClass], GraderClass]:
    """Register a grader class under `name`. The class takes (options, context)."""
    return GRADERS.register(name)  # type: ignore[return-value]


def registered_graders() -> dict[str, type]:
    return dict(sorted(GRADERS.all().items()))


def build_grader(
    name: str,
    options: Mapping[str, Any],
    context: GraderContext,
    *,
    where: str = "graders",
    file: str | None = None,
) -> Grader:
    cls = _resolve(name, where, file)
    option_model: type[BaseModel] = getattr(cls, "Options", GraderOptions)
    try:
        parsed = option_model.model_validate(dict(options))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise ConfigError(
            str(error["msg"]).removeprefix("Value error, "),
            file=file,
            field=f"{where}.options.{loc}" if loc else f"{where}.options",
            fix=f"see `harness list graders` for the options of '{name}'",
        ) from None
    try:
        instance = cls(parsed, context)
    except UserError as exc:
        # graders name their own fields as "<name>.options.x"; say where in the config it is
        field = exc.field or ""
        located = f"{where}{field[len(name) :]}" if field.startswith(name) else where
        raise type(exc)(exc.message, file=exc.file or file, field=located, fix=exc.fix) from None
    if not isinstance(instance, Grader):
        raise ConfigError(
            f"'{name}' does not implement the Grader protocol (async grade(attempt))",
            file=file,
            field=f"{where}.name",
            fix="point at a grader class",
        )
    return instance


def grader_class(name: str) -> type | None:
    """The class registered (or importable as module:attr) under `name`, or None: a report on
    a run graded by a plugin that is not installed here still renders."""
    try:
        return _resolve(name, "graders", None)
    except ConfigError:
        return None


def _resolve(name: str, where: str, file: str | None) -> type:
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"cannot import grader '{name}': {exc}",
                file=file,
                field=f"{where}.name",
                fix="check the module:attr path, or install the package that provides it",
            ) from None
    found = GRADERS.find(name)
    if found is None:
        raise ConfigError(
            GRADERS.unknown(name), file=file, field=f"{where}.name", fix=GRADERS.fix(name)
        )
    return found


async def grade_safely(grader_: Grader, attempt: AttemptRecord) -> Verdict:
    """A grader that raises or returns garbage yields UNPARSEABLE, never a crashed run."""
    try:
        verdict = await grader_.grade(attempt)
    except Exception as exc:  # a plugin's bug must not take down the run
        return Verdict(Label.UNPARSEABLE, error=f"grader raised {type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict(Label.UNPARSEABLE, error=f"grader returned {type(verdict).__name__}")
    try:
        label = Label(verdict.label)
    except ValueError:
        return Verdict(
            Label.UNPARSEABLE, raw=str(verdict.label), error="label outside the taxonomy"
        )
    return (
        verdict
        if label is verdict.label
        else Verdict(label, verdict.score, verdict.rationale, verdict.raw, verdict.error)
    )
