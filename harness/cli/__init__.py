"""The `harness` command line: one thin module per command, registered on one typer app.

User errors print one line and exit 2; bugs keep their tracebacks. Each command imports what it
needs when it runs, so that `harness --help` and the start of `harness run` load only typer and
the command modules themselves.
"""

from __future__ import annotations

import faulthandler
import gc
import sys

import typer

from harness._errors import EXIT_USER_ERROR, UserError

# importing a command module registers its command on `app`, in this order in `--help`
# isort: off
from harness.cli import (  # noqa: F401
    _version,
    _validate,
    _run,
    _report,
    _export,
    _import,
    _grade,
    _merge,
    _annotate,
    _agree,
    _list,
)

# isort: on
from harness.cli._app import (
    EXIT_BUDGET,
    EXIT_FLAGGED,
    EXIT_INTERRUPTED,
    EXIT_MODEL_CRASHED,
    app,
)

__all__ = [
    "EXIT_BUDGET",
    "EXIT_FLAGGED",
    "EXIT_INTERRUPTED",
    "EXIT_MODEL_CRASHED",
    "EXIT_USER_ERROR",
    "app",
    "main",
]


def main() -> None:
    """The console script `harness`."""
    faulthandler.enable()  # a native crash names its place instead of ending in silence
    # httpx's own command line is never run here, yet `import httpx` loads it, and with it
    # click, rich and pygments (~35 ms of a run's start); without it httpx defines a stub
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USER_ERROR) from None
    finally:
        # Python's exit collects every object the imports made: 0.15 s once the HTTP stack is
        # loaded, for memory the process is about to give back anyway. Frozen, they are not
        # walked; files, the store and threads are closed by then, so nothing waits on it.
        gc.freeze()
