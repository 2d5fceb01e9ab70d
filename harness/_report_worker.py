"""The end-of-run report of `harness run`, from a process that loaded what it needs meanwhile.

The report needs pandas, NumPy, SciPy and PyArrow: about a second of imports on two cores,
which after a small run would be most of the wait for its table. So `harness run` starts this
worker with the run: it imports them while requests are in flight, on the other core (a thread
could not: imports hold the GIL the event loop needs), then waits for one line on stdin, the run
directory, and prints the report and the graders' agreement on the command's own stdout, as
the command would have. An empty line or end of file (the run failed, was interrupted, or the
command died) and it exits without a word. Its exit status is the command's: 2 and one
`error:` line for a user error.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

__all__ = ["ReportWorker", "main"]

# what `harness run`'s report imports, loaded before the run directory is known
_PRELOAD = (
    "harness.reporting._analysis",
    "harness.reporting._render",
    "harness.stats",
    "adbc_driver_sqlite.dbapi",
    "tabulate",
)


class ReportWorker:
    """The worker seen from `harness run`: started at once, handed the run at its end."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @classmethod
    def start(cls, stdout: IO[Any]) -> ReportWorker | None:
        """None where the report must be computed in this process: `stdout` is not a file
        a child can write to (a test's capture), or no process could be started."""
        try:
            out = stdout.fileno()
        except (AttributeError, ValueError, OSError):
            return None
        # the parent's module path exactly (`-c` would put the working directory first)
        code = f"import sys; sys.path[:] = {sys.path!r}; import {__name__} as w; w.main()"
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=out,
                # its own session: a Ctrl-C at the terminal is the parent's to handle
                start_new_session=True,
            )
        except OSError:
            return None
        return cls(process)

    def report(self, run_dir: Path) -> int:
        """Have the worker print the report of `run_dir`; its exit status."""
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died: its status says how
            stdin.write(str(run_dir.resolve()).encode() + b"\n")
            stdin.close()
        return self._process.wait()

    def cancel(self) -> None:
        """No report: the worker goes at once, whatever it was loading."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdin is not None:
            self._process.stdin.close()


def main() -> None:
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    from harness._errors import UserError
    from harness.cli import EXIT_USER_ERROR, print_run_report

    line = sys.stdin.readline().strip()
    if not line:
        raise SystemExit(0)
    try:
        print_run_report(Path(line))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    sys.stdout.flush()
