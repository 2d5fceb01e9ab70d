"""Cost accounting and the run's budget: every model request is counted, priced and stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from harness.config import BudgetSpec, PriceSpec
from harness.providers import Reply
from harness.store import RequestRecord, RunStore, now_iso

__all__ = ["Budget", "BudgetExhausted", "RequestContext", "budget_from_store", "requests_for"]


class BudgetExhausted(Exception):
    """`harness grade` stopped at the budget; what was graded is stored."""


@dataclass(frozen=True)
class RequestContext:
    """What a request is sent for: set by whoever sends it, read when it is charged."""

    role: str = "target"
    configuration: str | None = None
    attack: str | None = None
    attempt_id: str | None = None


# a context variable: asyncio copies it into every task, so a guard's or a judge's request
# is charged to the attempt it was sent for without passing it down every call
_CURRENT: ContextVar[RequestContext | None] = ContextVar("harness_request", default=None)
_DEFAULT = RequestContext()


@contextmanager
def requests_for(**changes: Any) -> Iterator[None]:
    """Requests sent inside the block are charged with these fields changed."""
    token = _CURRENT.set(replace(_CURRENT.get() or _DEFAULT, **changes))
    try:
        yield
    finally:
        _CURRENT.reset(token)


class Budget:
    """Counts and prices every request, keeps them for the store, and stops the run (cleanly,
    through its stop event) once a limit is reached.

    Requests count every try sent, retries included; cost is priced from the token usage the
    providers report. Guard and judge calls count too: they are spent all the same. A resumed
    run or `harness grade` starts from what the store's `requests` table holds.
    """

    def __init__(
        self,
        spec: BudgetSpec | None,
        prices: Mapping[str, PriceSpec],
        stop: asyncio.Event,
        *,
        requests: int = 0,
        cost: float = 0.0,
    ) -> None:
        self._spec = spec
        self._prices = prices
        self._stop = stop
        self.requests = requests
        self.cost = cost
        self.exhausted: str | None = None
        self._pending: list[RequestRecord] = []
        self._check()

    def charge(self, model: str, reply: Reply | None, tries: int) -> None:
        self.requests += tries
        price = self._prices.get(model)
        usage = reply.usage if reply is not None else None
        prompt = usage.prompt_tokens if usage is not None else None
        completion = usage.completion_tokens if usage is not None else None
        cost = price.cost(prompt or 0, completion or 0) if price is not None else None
        self.cost += cost or 0.0
        context = _CURRENT.get() or _DEFAULT
        self._pending.append(
            RequestRecord(
                model=model,
                role=context.role,
                configuration=context.configuration,
                attack=context.attack,
                attempt_id=context.attempt_id,
                tries=tries,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=cost,
                finished_at=now_iso(),
            )
        )
        self._check()

    def drain(self) -> list[RequestRecord]:
        """The requests charged since the last drain, for the store."""
        pending, self._pending = self._pending, []
        return pending

    def _check(self) -> None:
        spec = self._spec
        if spec is None or self.exhausted:
            return
        if spec.max_requests is not None and self.requests >= spec.max_requests:
            self.exhausted = (
                f"max_requests {spec.max_requests} reached ({self.requests} sent, earlier "
                "runs of this directory included)"
            )
        elif spec.max_cost is not None and self.cost >= spec.max_cost:
            self.exhausted = (
                f"max_cost {spec.max_cost:g} reached (spent {self.cost:.4f}, earlier runs "
                "of this directory included)"
            )
        if self.exhausted:
            self._stop.set()


def budget_from_store(
    spec: BudgetSpec | None,
    prices: Mapping[str, PriceSpec],
    store: RunStore,
    stop: asyncio.Event,
) -> Budget:
    """A budget that starts with what the store's requests already spent."""
    requests, cost = 0, 0.0
    for model, tries, prompt_tokens, completion_tokens in store.spending():
        requests += tries
        if model in prices:
            cost += prices[model].cost(prompt_tokens, completion_tokens)
    return Budget(spec, prices, stop, requests=requests, cost=cost)
