"""The typer application every command module registers on, and what the commands share."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from harness._errors import EXIT_USER_ERROR, UserError

if TYPE_CHECKING:  # asyncio loads when a command needs it: `--help` starts faster
    import asyncio

__all__ = [
    "EXIT_BUDGET",
    "EXIT_FLAGGED",
    "EXIT_INTERRUPTED",
    "EXIT_MODEL_CRASHED",
    "EXIT_USER_ERROR",
    "ConfigArg",
    "RunArg",
    "app",
    "choice",
    "list_app",
    "stop_on_signals",
]

app: typer.Typer = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Adversarial safety evaluation under controlled deployment configurations.",
)
list_app = typer.Typer(no_args_is_help=True, help="List installed components.")
app.add_typer(list_app, name="list")

ConfigArg = Annotated[Path, typer.Argument(help="experiment YAML file")]
RunArg = Annotated[Path, typer.Argument(help="run directory (holds store.sqlite)")]
EXIT_INTERRUPTED = 130
EXIT_BUDGET = 3
EXIT_MODEL_CRASHED = 4
EXIT_FLAGGED = 5  # `harness report --strict`: a shown rate carries a flag


_Choice = TypeVar("_Choice", bound=str)


def choice(value: str, allowed: Sequence[_Choice], option: str) -> _Choice:
    """The one of `allowed` that `value` names, else a user error naming the option."""
    for allowed_value in allowed:
        if allowed_value == value:
            return allowed_value
    raise UserError(
        f"unknown value {value!r}", field=option, fix=f"use one of {', '.join(allowed)}"
    )


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Within the running loop, SIGINT and SIGTERM set `stop` (finished work is kept)."""
    import asyncio

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
