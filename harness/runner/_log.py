"""The run's log: RUN/harness.log, what a long run did (rate limits, give-ups, stops), scrubbed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.store import LOG_NAME, Scrubber

__all__ = ["LOG_NAME", "run_log"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Scrubbed(logging.Formatter):
    """Secrets replaced in the whole record as written, traceback included."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._scrubber = Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._scrubber.text(super().format(record))


@contextmanager
def run_log(run_dir: Path, secrets: Iterable[str]) -> Iterator[None]:
    """For the duration of a run: the `harness` loggers at INFO into RUN/harness.log (appended
    by every resume), and warnings on stderr when nothing else is configured to show them."""
    logger = logging.getLogger("harness")
    secrets = list(secrets)
    handlers: list[logging.Handler] = [logging.FileHandler(run_dir / LOG_NAME, encoding="utf-8")]
    if not logging.getLogger().handlers:
        # an added handler turns off logging's last resort, which printed warnings to stderr
        terminal = logging.StreamHandler()
        terminal.setLevel(logging.WARNING)
        handlers.append(terminal)
    for handler in handlers:
        handler.setFormatter(_Scrubbed(_FORMAT, secrets))
        logger.addHandler(handler)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
