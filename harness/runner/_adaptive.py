"""Adaptive concurrency: additive increase, multiplicative decrease on rate limits (AIMD).

A model's `concurrency` is the ceiling. Each 429 halves the number of requests allowed in flight
(at most once per `cooldown` seconds, so one burst of 429s counts once); every `limit`
consecutive successes raise it by one again, back up to the ceiling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["AdaptiveGate"]

log = logging.getLogger("harness.runner.adaptive")


class AdaptiveGate:
    def __init__(self, name: str, ceiling: int, *, cooldown: float = 1.0) -> None:
        self.name = name
        self.ceiling = ceiling
        self.limit = ceiling
        self._in_flight = 0
        self._waiting = 0  # tasks queued for a slot
        self._successes = 0
        self._cooldown = cooldown
        self._last_decrease = -float("inf")
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        # the usual case, a free slot and nobody queued, needs no lock: nothing awaits between
        # the test and the increment, so no other task can come in between
        if self._in_flight >= self.limit or self._waiting:
            async with self._changed:
                self._waiting += 1
                try:
                    await self._changed.wait_for(lambda: self._in_flight < self.limit)
                finally:
                    self._waiting -= 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._waiting:
                async with self._changed:
                    self._changed.notify_all()

    def rate_limited(self) -> None:
        now = time.monotonic()
        if now - self._last_decrease < self._cooldown or self.limit == 1:
            return
        self._last_decrease = now
        self._successes = 0
        self._set(max(1, self.limit // 2), "rate limited")

    async def succeeded(self) -> None:
        self._successes += 1
        if self.limit < self.ceiling and self._successes >= self.limit:
            self._successes = 0
            self._set(self.limit + 1, "recovering")
            async with self._changed:
                self._changed.notify_all()

    def _set(self, limit: int, why: str) -> None:
        log.info("%s: concurrency %d -> %d (%s)", self.name, self.limit, limit, why)
        self.limit = limit
