"""Cost accounting and the run's budget: every model request is counted and priced."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from harness.config import BudgetSpec, PriceSpec
from harness.providers import Reply

__all__ = ["Budget", "token_cost"]


def token_cost(price: PriceSpec, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000


class Budget:
    """Stops the run (cleanly, through its stop event) once a limit is reached.

    Requests count every try sent, retries included; cost is priced from the token usage the
    providers report. Guard and judge calls count too: they are spent all the same.
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
        self._check()

    def charge(self, model: str, reply: Reply | None, tries: int) -> None:
        self.requests += tries
        price = self._prices.get(model)
        if reply is not None and price is not None:
            usage = reply.usage
            self.cost += token_cost(price, usage.prompt_tokens or 0, usage.completion_tokens or 0)
        self._check()

    def _check(self) -> None:
        spec = self._spec
        if spec is None or self.exhausted:
            return
        if spec.max_requests is not None and self.requests >= spec.max_requests:
            self.exhausted = f"max_requests {spec.max_requests} reached ({self.requests} sent)"
        elif spec.max_cost is not None and self.cost >= spec.max_cost:
            self.exhausted = f"max_cost {spec.max_cost:g} reached (spent {self.cost:.4f})"
        if self.exhausted:
            self._stop.set()
