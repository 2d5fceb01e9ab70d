"""Report formats: `harness report --format NAME` renders through the reporter registered as NAME.

A reporter is a class (instantiated without arguments) with a one-line `description` and
`render(report, out) -> str`, the text `harness report` prints (`out` is `--out`: a reporter
that writes files puts them there). One that can show several runs side by side also has
`compare(reports) -> str`. Built-ins live in `harness.reporting.formats`, one module each, and
register through the `harness.reporters` entry-point group as third-party formats do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar, runtime_checkable

from harness._errors import UserError
from harness._plugins import Registry

if TYPE_CHECKING:
    from harness.reporting._analysis import RunReport

__all__ = [
    "REPORTERS",
    "Comparer",
    "Reporter",
    "registered_reporters",
    "render",
    "render_comparison",
    "reporter",
    "reporter_for",
]


class Reporter(Protocol):
    description: ClassVar[str]

    def render(self, report: RunReport, out: Path | None) -> str:
        """The text to print; `out` is where to write files, for formats that write some."""
        ...


@runtime_checkable
class Comparer(Protocol):
    """A reporter that can also show several runs side by side."""

    def compare(self, reports: Sequence[RunReport]) -> str: ...


REPORTERS: Registry[type] = Registry(
    "harness.reporters", "report format", "--format", first=("md", "csv", "latex", "html", "json")
)
ReporterClass = TypeVar("ReporterClass", bound=type)


def reporter(name: str) -> Callable[[ReporterClass], ReporterClass]:
    """Register a reporter class under `name` (what `--format` takes)."""
    return REPORTERS.register(name)  # type: ignore[return-value]


def registered_reporters() -> dict[str, type]:
    return REPORTERS.all()


def reporter_for(name: str) -> Reporter:
    """The reporter `--format NAME` names, or exit 2 with a "did you mean"."""
    cls = REPORTERS.find(name)
    if cls is None:
        raise UserError(REPORTERS.unknown(name), field="--format", fix=REPORTERS.fix(name))
    instance: Reporter = cls()
    return instance


def render(report: RunReport, fmt: str) -> str:
    """The report in format `fmt`, as `harness report` prints it (files go under the run)."""
    return reporter_for(fmt).render(report, None)


def render_comparison(reports: Sequence[RunReport], fmt: str) -> str:
    """Several runs side by side, in a format that can show them."""
    chosen = reporter_for(fmt)
    if not isinstance(chosen, Comparer):
        able = [n for n, cls in registered_reporters().items() if issubclass(cls, Comparer)]
        listed = f"{', '.join(able[:-1])} and {able[-1]}" if len(able) > 1 else "".join(able)
        raise UserError(
            f"comparing runs supports {listed}, not {fmt}",
            field="--format",
            fix=f"use --format {'|'.join(able)}",
        )
    return chosen.compare(reports)
