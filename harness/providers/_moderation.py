"""An OpenAI-compatible /v1/moderations endpoint, used by `moderation` guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from harness.providers._http import JsonEndpoint
from harness.providers._types import MalformedReply

__all__ = ["ModerationClient", "ModerationResult"]


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool
    scores: dict[str, float]
    latency_s: float


class ModerationClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        model: str | None,
        transport: httpx.AsyncBaseTransport,
        timeout: float,
    ) -> None:
        url = base_url.rstrip("/") + "/moderations"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._endpoint = JsonEndpoint(transport, url, headers, timeout)
        self._model = model

    async def moderate(self, text: str) -> ModerationResult:
        body: dict[str, Any] = {"input": text}
        if self._model:
            body["model"] = self._model
        payload, elapsed = await self._endpoint.post(body)
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise MalformedReply("moderation reply has no results")
        first = results[0]
        scores = first.get("category_scores") or {}
        return ModerationResult(
            flagged=bool(first.get("flagged")),
            scores={str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)},
            latency_s=elapsed,
        )

    async def aclose(self) -> None:
        await self._endpoint.aclose()
