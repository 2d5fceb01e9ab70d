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
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

__all__ = ["EndOfRunReport", "main"]

# what `harness run`'s report imports, loaded before the run directory is known
_PRELOAD = (
    "harness.reporting._run_end",
    "harness.reporting.formats.md",  # and _render, _compare
    "adbc_driver_sqlite.dbapi",
    "tabulate",
)


class EndOfRunReport:
    """`harness run`'s report: from the worker when one could start, else in this process."""

    def __init__(self, stdout: IO[Any]) -> None:
        self._stdout = stdout
        self._process: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        """Start the worker: once the command's own imports are done, so that the two do not
        contend for the CPU before the first request. Nothing when `stdout` is not a file a
        child can write to (a test's capture) or no process can start: the report is then
        computed in this process."""
        try:
            out = self._stdout.fileno()
        except (AttributeError, ValueError, OSError):
            return
        # the parent's module path exactly (`-c` would put the working directory first)
        code = f"import sys; sys.path[:] = {sys.path!r}; import {__name__} as w; w.main()"
        with contextlib.suppress(OSError):
            self._process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=out,
                # its own session: a Ctrl-C at the terminal is the parent's to handle
                start_new_session=True,
            )

    def print(self, run_dir: Path) -> int:
        """Print the report of `run_dir`; the exit status it calls for."""
        process, self._process = self._process, None
        if process is None:
            from harness.reporting import run_end_report

            print(run_end_report(run_dir), file=self._stdout)
            return 0
        self._stdout.flush()  # whatever this process wrote comes first
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died: its status says how
            process.stdin.write(str(run_dir.resolve()).encode() + b"\n")
            process.stdin.close()
        return process.wait()

    def cancel(self) -> None:
        """No report: the worker goes at once, whatever it was loading."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdin is not None:
            process.stdin.close()


def main() -> None:
    import gc
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    from harness._errors import EXIT_USER_ERROR, UserError
    from harness.reporting import run_end_report

    # the first full collection after these imports walks every object they made (~0.15 s):
    # done now, while the run sends, and those objects are never walked again
    gc.collect()
    gc.freeze()

    line = sys.stdin.readline().strip()
    status = 0
    if line:
        try:
            print(run_end_report(Path(line)))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_USER_ERROR
    sys.stdout.flush()
    sys.stderr.flush()
    # nothing is left open; tearing down these modules would take ~0.1 s the command waits for
    os._exit(status)
