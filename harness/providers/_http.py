"""Shared HTTP plumbing: the pooled client and the mapping of HTTP outcomes to provider errors."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx

from harness._version import __version__
from harness.providers._transport import PooledTransport
from harness.providers._types import (
    ChatRequest,
    ConnectionFailed,
    MalformedReply,
    RateLimited,
    RequestRejected,
    RequestTimeout,
    ServerError,
    ToolsUnsupported,
    TransientError,
    tools_refused,
)

__all__ = ["JsonEndpoint", "make_transport", "parse_retry_after", "without_tools"]

RETRYABLE_STATUS = {408, 409, 425, 500, 502, 503, 504, 520, 522, 524, 529}
# rejections of a request's content; an auth or not-found error is not about the tools
_PROBED_STATUS = {400, 422}
_TOOL_KEYS = ("tools", "tool_choice")
_DEFAULT_HEADERS = {"accept": "application/json", "user-agent": f"harness/{__version__}"}


def make_transport(concurrency: int, base_url: str | None = None) -> httpx.AsyncBaseTransport:
    """A pooled transport (see `_transport`): httpx's default one stalls at high concurrency.

    `base_url` is the endpoint it serves (None: a vendor's https default). Only https needs
    the CA bundle, whose loading costs ~30 ms: it is loaded once per process. A plain-http
    endpoint's transport gets a context that trusts no certificate, so TLS through it could
    only fail, never go unverified.
    """
    plain = base_url is not None and base_url.lower().startswith("http://")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if plain else _verified_context()
    return PooledTransport(max_connections=concurrency, ssl_context=context)


@functools.cache
def _verified_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class JsonEndpoint:
    """POSTs JSON to one URL straight through an httpx transport.

    The transport is injected (any `httpx.AsyncBaseTransport`: ours, httpx's own, a mock).
    An API client needs none of what `httpx.AsyncClient` adds around it (cookie jar, auth
    flows, redirects, event hooks), and that layer cost more CPU per request than the
    transport itself: on two cores it, not the network, bounded throughput.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        url: str,
        headers: Mapping[str, str],
        timeout: float,
    ) -> None:
        self._transport = transport
        self.url = httpx.URL(url)
        # a client's usual headers: some gateways refuse a request without a User-Agent
        self._headers = httpx.Headers(
            {**_DEFAULT_HEADERS, **headers, "content-type": "application/json"}
        )
        self.timeout = timeout
        # the whole request has `timeout` as its deadline (below), which bounds the wait for a
        # connection and for the reply too: the transport keeps only its connect timeout, and
        # saves two timers per request (~10% of a request's CPU at high concurrency)
        self._extensions = {
            "timeout": {"connect": timeout, "read": None, "write": None, "pool": None}
        }
        # (status, message) of a rejection of a request with tools → was it the tools?
        self._verdicts: dict[tuple[int | None, str], asyncio.Future[bool | None]] = {}

    async def post(self, body: Mapping[str, Any]) -> tuple[Any, float]:
        """POST and return (parsed JSON, seconds), raising the provider error that fits."""
        # as httpx encodes `json=`: compact, UTF-8, no NaN (which is not JSON)
        content = json.dumps(
            body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
        request = httpx.Request(
            "POST", self.url, headers=self._headers, content=content, extensions=self._extensions
        )
        started = time.perf_counter()
        try:
            # a total deadline: the transport's timeouts are per socket operation
            async with asyncio.timeout(self.timeout):
                response = await self._transport.handle_async_request(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except (httpx.TransportError, OSError) as exc:
            raise _transport_error(exc, self.timeout) from None
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
        self,
        body: Mapping[str, Any],
        *,
        offers_tools: bool,
        probe: Mapping[str, Any] | None = None,
    ) -> tuple[Any, float]:
        """post for a chat request: a rejection of the tools it offers is NO_TOOL_SUPPORT.

        A rejection that names tools is taken at its word. One that does not (a server
        without tool support may answer a bare "400 Bad Request") is put to the test when the
        caller passes `probe`, the same request without its tools (see `without_tools`): if
        the server accepts that one, the tools were the cause. The probe's reply is never used
        as an answer; the verdict is kept per rejection message, so a model's attempts that
        all meet the same rejection cost one probe between them.
        """
        try:
            return await self.post(body)
        except RequestRejected as exc:
            if not offers_tools:
                raise
            if tools_refused(exc):
                raise ToolsUnsupported(str(exc), status=exc.status) from None
            if probe is None or exc.status not in _PROBED_STATUS:
                raise
            verdict = await self._tools_were_refused(exc, probe)
            if verdict is True:
                raise ToolsUnsupported(
                    f"{exc} (rejected with tools; the same request without tools was accepted, "
                    "so the server is taken not to support tools)",
                    status=exc.status,
                ) from None
            why = (
                "the same request without tools was rejected too: not a matter of tool support"
                if verdict is False
                else "whether the tools were the cause is unknown: the request without tools "
                "failed transiently"
            )
            raise RequestRejected(f"{exc} ({why})", status=exc.status) from None

    async def _tools_were_refused(
        self, rejection: RequestRejected, probe: Mapping[str, Any]
    ) -> bool | None:
        """Whether the request without tools is accepted (True), rejected too (False), or
        could not be told (None: a transient failure, not kept)."""
        key = (rejection.status, str(rejection))
        pending = self._verdicts.get(key)
        if pending is None:
            pending = self._verdicts[key] = asyncio.ensure_future(self._probe(probe))
        verdict = await asyncio.shield(pending)
        if verdict is None and self._verdicts.get(key) is pending:
            del self._verdicts[key]  # the next rejection probes again
        return verdict

    async def _probe(self, probe: Mapping[str, Any]) -> bool | None:
        try:
            await self.post(probe)
        except RequestRejected:
            return False
        except TransientError:
            return None
        return True

    async def aclose(self) -> None:
        await self._transport.aclose()


def without_tools(body: Mapping[str, Any], request: ChatRequest) -> dict[str, Any] | None:
    """`body` without its tools, to probe whether a rejection was about them; None when the
    request offers none, or when its history holds tool calls (the server took tools then, and
    a body without them would not be the same request)."""
    if not request.tools or any(
        m.get("role") == "tool" or m.get("tool_calls") for m in request.messages
    ):
        return None
    return {k: v for k, v in body.items() if k not in _TOOL_KEYS}


def _transport_error(exc: BaseException, deadline: float) -> RequestTimeout | ConnectionFailed:
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return RequestTimeout(f"no reply within {deadline:g}s ({type(exc).__name__})")
    return ConnectionFailed(f"{type(exc).__name__}: {exc}".rstrip(": "))


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
