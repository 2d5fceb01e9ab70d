"""The harness's user-facing exception hierarchy.

Every error a user can fix (a wrong config, a missing file, a missing API key, malformed data)
is a `UserError`: the CLI prints it as one line naming the file, the field and the fix, and exits
with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "EXIT_USER_ERROR",
    "ConfigError",
    "DataError",
    "HarnessError",
    "RunStoreError",
    "UserError",
    "did_you_mean",
]


class HarnessError(Exception):
    """Base of every exception the harness raises on purpose."""


class UserError(HarnessError):
    """Bad input that the user can fix; reported without a traceback, exit code 2."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.field = field
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(part for part in (self.file, self.field) if part)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text


class ConfigError(UserError):
    """The experiment config is missing, unreadable or invalid."""


class DataError(UserError):
    """A suite, import table or label file cannot be read or lacks a required column."""


class RunStoreError(UserError):
    """A run directory is missing, from another config, or from an incompatible version."""


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """ "did you mean 'x'? " for the closest of `choices` (difflib's ratio of at least 0.6), or
    "": the start of an unknown name's message."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


# the exit status of a UserError: the CLI and the end-of-run report worker both exit with it
EXIT_USER_ERROR = 2
