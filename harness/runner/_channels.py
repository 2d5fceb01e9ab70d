"""Channels: every request to one model (or moderation endpoint) goes through its own.

A channel holds the model's concurrency gate, rate limiter and retry policy, so the model's own
attempts, guards that use it and judges that use it all share one budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from aiolimiter import AsyncLimiter

from harness.config import GuardSpec, ModelSpec, RetrySpec
from harness.layers import ModerationOptions
from harness.providers import (
    ChatRequest,
    ModerationClient,
    ModerationResult,
    Provider,
    RateLimited,
    Reply,
    build_provider,
    make_transport,
    serial,
)
from harness.runner._adaptive import AdaptiveGate
from harness.runner._budget import Budget
from harness.runner._retry import CallOutcome, Outcome, with_retries

__all__ = ["Channel", "ModerationChannel", "build_channels"]

log = logging.getLogger("harness.runner.channels")

# runner workers for a serial model (e.g. llamacpp): see Channel.pool_size
SERIAL_POOL = 2


class Channel:
    def __init__(self, name: str, provider: Provider, spec: ModelSpec) -> None:
        self.name = name
        self.provider = provider
        self.spec = spec
        self.gate = AdaptiveGate(name, 1 if serial(spec) else spec.concurrency)
        self.budget: Budget | None = None  # set by the run that uses the channel
        # one request per 60/rpm seconds: smooth, with no burst at start
        self._limiter = AsyncLimiter(1, 60.0 / spec.rpm) if spec.rpm else None

    @property
    def pool_size(self) -> int:
        # a serial model takes one request at a time (its gate has one slot), but a second
        # runner worker lets one attempt's grading (e.g. a local judge in a worker process of
        # its own, on another core) overlap the next attempt's model call
        return SERIAL_POOL if serial(self.spec) else self.spec.concurrency

    async def complete(self, request: ChatRequest) -> CallOutcome:
        async def send() -> Reply:
            # a slot is held only while a request is in flight, never during a backoff
            async with self.gate.slot():
                try:
                    reply = await self.provider.complete(request)
                except RateLimited:
                    self.gate.rate_limited()
                    raise
            await self.gate.succeeded()
            return reply

        outcome = await with_retries(send, self.spec.retry, self._limiter)
        if outcome.error is not None and outcome.tries > 1:
            log.info(
                "%s: gave up after %d tries: %s", self.name, outcome.tries, outcome.error.describe()
            )
        if self.budget is not None:
            self.budget.charge(self.name, outcome.value, outcome.tries)
        return CallOutcome(outcome.value, outcome.error, outcome.tries)

    async def aclose(self) -> None:
        await self.provider.aclose()


class ModerationChannel:
    def __init__(self, spec: GuardSpec, api_key: str | None) -> None:
        options = spec.options
        assert isinstance(options, ModerationOptions), spec.kind  # a moderation guard's
        assert options.base_url is not None  # guaranteed by its validation
        self._client = ModerationClient(
            options.base_url,
            api_key=api_key,
            model=options.moderation_model,
            transport=make_transport(options.concurrency, options.base_url),
            timeout=options.timeout,
        )
        self._gate = asyncio.Semaphore(options.concurrency)
        self._retry = RetrySpec(max_attempts=4, initial_backoff=0.5, max_backoff=10)

    async def moderate(self, text: str) -> Outcome[ModerationResult]:
        async with self._gate:
            return await with_retries(lambda: self._client.moderate(text), self._retry, None)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_channels(
    models: Mapping[str, ModelSpec], secrets: Mapping[str, str], base_dir: Path
) -> dict[str, Channel]:
    return {
        name: Channel(
            name,
            build_provider(
                spec, api_key=secrets.get(spec.api_key_env or ""), base_dir=base_dir, name=name
            ),
            spec,
        )
        for name, spec in models.items()
    }
