"""Shared HTTP plumbing: the pooled client and the mapping of HTTP outcomes to provider errors."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from harness.providers._types import (
    ConnectionFailed,
    MalformedReply,
    RateLimited,
    RequestRejected,
    RequestTimeout,
    ServerError,
    ToolsUnsupported,
    tools_refused,
)

__all__ = ["make_client", "parse_retry_after", "post_chat", "post_json"]

RETRYABLE_STATUS = {408, 409, 425, 500, 502, 503, 504, 520, 522, 524, 529}


def make_client(concurrency: int, timeout: float) -> httpx.AsyncClient:
    """A pooled client over aiohttp: httpx's default transport stalls at high concurrency."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits),
        timeout=httpx.Timeout(timeout),
        limits=limits,
    )


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    deadline: float,
) -> tuple[Any, float]:
    """POST and return (parsed JSON, seconds), raising the provider error that fits."""
    started = time.perf_counter()
    try:
        # a total deadline: the transport's timeouts are per socket operation
        async with asyncio.timeout(deadline):
            response = await client.post(url, json=body, headers=dict(headers))
    except (httpx.TransportError, aiohttp.ClientError, OSError) as exc:
        raise _transport_error(exc, deadline) from None
    elapsed = time.perf_counter() - started
    _raise_for_status(response)
    try:
        return json.loads(response.content), elapsed
    except ValueError:
        snippet = response.text[:80].replace("\n", " ")
        raise MalformedReply(
            f"body is not JSON: {snippet!r}", status=response.status_code
        ) from None


async def post_chat(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    deadline: float,
    *,
    offers_tools: bool,
) -> tuple[Any, float]:
    """post_json for a chat request: a rejection of the tools it offers is NO_TOOL_SUPPORT."""
    try:
        return await post_json(client, url, body, headers, deadline)
    except RequestRejected as exc:
        if offers_tools and tools_refused(exc):
            raise ToolsUnsupported(str(exc), status=exc.status) from None
        raise


def _transport_error(exc: BaseException, deadline: float) -> RequestTimeout | ConnectionFailed:
    # httpx-aiohttp maps every aiohttp connection error (a reset included) to ConnectTimeout,
    # so the original aiohttp exception decides whether this really was a timeout.
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    native_timeout = cause is exc and isinstance(exc, httpx.TimeoutException)
    if isinstance(cause, TimeoutError) or native_timeout:
        return RequestTimeout(f"no reply within {deadline:g}s ({type(cause).__name__})")
    return ConnectionFailed(f"{type(cause).__name__}: {cause}".rstrip(": "))


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    message = _error_message(response)
    if status == 429:
        raise RateLimited(message, status=status, retry_after=parse_retry_after(response.headers))
    if status in RETRYABLE_STATUS or status >= 500:
        raise ServerError(message, status=status, retry_after=parse_retry_after(response.headers))
    raise RequestRejected(message, status=status)


def _error_message(response: httpx.Response) -> str:
    try:
        payload = json.loads(response.content)
    except ValueError:
        return response.text[:200] or response.reason_phrase
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    return response.text[:200]


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date), or None."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None
