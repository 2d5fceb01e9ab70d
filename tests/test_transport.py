"""The providers' HTTP transport against real sockets: a raw server on 127.0.0.1 that writes
exactly the bytes each test scripts (keep-alive, chunks, closes, garbage, silence, TLS)."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import trustme

from harness.providers import (
    ConnectionFailed,
    JsonEndpoint,
    PooledTransport,
    RequestTimeout,
    make_transport,
)

pytestmark = pytest.mark.anyio

BODY = b'{"ok":true}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + BODY
TIMEOUT = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), 2.0)}

# what the server does with a request: the bytes to answer with (None: say nothing), and
# whether to close the connection after them
Script = Callable[[int], tuple[bytes | None, bool]]


@dataclass
class RawServer:
    url: str
    connections: int = 0  # opened so far
    open_now: int = 0
    most_open: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def raw_server(
    script: Script, delay: float = 0.0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    """Answers the n-th request (0-based, over all connections) as `script(n)` says."""
    state = RawServer(url="")

    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        state.connections += 1
        state.open_now += 1
        state.most_open = max(state.most_open, state.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                state.requests.append(head + await reader.readexactly(length))
                reply, close = script(len(state.requests) - 1)
                await asyncio.sleep(delay)
                if reply is None:
                    await asyncio.sleep(3600)
                writer.write(reply or b"")
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            state.open_now -= 1
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    state.url = f"{'https' if tls else 'http'}://localhost:{port}/v1/chat"
    try:
        yield state
    finally:
        server.close()
        for handler in list(handlers):  # a silent reply's handler is still waiting
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def always(reply: bytes, close: bool = False) -> Script:
    return lambda _n: (reply, close)


def plain_transport(connections: int = 4) -> PooledTransport:
    return PooledTransport(
        max_connections=connections, ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    )


async def post(transport: httpx.AsyncBaseTransport, url: str, **timeout: float) -> httpx.Response:
    extensions = {"timeout": {**TIMEOUT["timeout"], **timeout}}
    request = httpx.Request("POST", url, content=b'{"q":1}', extensions=extensions)
    response = await transport.handle_async_request(request)
    await response.aread()
    return response


async def test_keeps_one_connection_alive_across_requests() -> None:
    transport = plain_transport()
    async with raw_server(always(OK)) as server:
        replies = [await post(transport, server.url) for _ in range(5)]
    await transport.aclose()
    assert [r.json() for r in replies] == [{"ok": True}] * 5
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat HTTP/1.1\r\n") and first.endswith(b'{"q":1}')
    assert b"host: localhost:" in first.lower()


async def test_never_opens_more_than_max_connections() -> None:
    transport = plain_transport(connections=3)
    async with raw_server(always(OK), delay=0.05) as server:
        replies = await asyncio.gather(*(post(transport, server.url) for _ in range(12)))
    await transport.aclose()
    assert len(replies) == 12 and server.most_open == 3 and server.connections == 3


async def test_connection_close_and_close_delimited_bodies() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 11\r\n\r\n" + BODY
    until_eof = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY
    replies = [(closing, True), (until_eof, True), (OK, False)]
    transport = plain_transport()
    async with raw_server(lambda n: replies[n]) as server:
        got = [await post(transport, server.url) for _ in range(3)]
    await transport.aclose()
    assert [r.json() for r in got] == [{"ok": True}] * 3
    assert server.connections == 3  # a closed connection is never reused


async def test_chunked_and_gzipped_replies_are_decoded() -> None:
    packed = gzip.compress(BODY)
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + b"%x\r\n%s\r\n" % (5, packed[:5])
        + b"%x\r\n%s\r\n" % (len(packed) - 5, packed[5:])
        + b"0\r\n\r\n"
    )
    transport = plain_transport()
    async with raw_server(always(chunked)) as server:
        response = await post(transport, server.url)
        again = await post(transport, server.url)
    await transport.aclose()
    assert response.json() == {"ok": True} and again.json() == {"ok": True}
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    transport = plain_transport()
    async with raw_server(always(OK, close=True)) as server:
        await post(transport, server.url)
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        second = await post(transport, server.url)
    await transport.aclose()
    assert second.status_code == 200 and server.connections == 2


async def test_socket_failures_become_httpx_errors() -> None:
    transport = plain_transport(connections=1)
    async with raw_server(always(OK)) as server:
        url = server.url
    with pytest.raises(httpx.ConnectError):  # nothing listens there any more
        await post(transport, url)
    async with raw_server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", True)) as s:
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed"):  # body cut short
            await post(transport, s.url)
    async with raw_server(always(b"this is not http\r\n\r\n")) as s:
        with pytest.raises(httpx.RemoteProtocolError, match="unreadable HTTP reply"):
            await post(transport, s.url)
    async with raw_server(always(b"", close=True)) as s:  # closed, not a byte said
        with pytest.raises(httpx.ReadError, match="before replying"):
            await post(transport, s.url)
    async with raw_server(lambda _n: (None, False)) as s:
        with pytest.raises(httpx.ReadTimeout):
            await post(transport, s.url, read=0.2)
        # the one connection is held by nobody now: the pool has its slot back
        with pytest.raises(httpx.ReadTimeout):
            await post(transport, s.url, read=0.1, pool=0.1)
    await transport.aclose()
    with pytest.raises(httpx.ConnectError, match="closed"):
        await post(transport, url)


async def test_a_busy_pool_times_out_as_pool_timeout() -> None:
    transport = plain_transport(connections=1)
    async with raw_server(always(OK), delay=0.5) as server:
        slow = asyncio.ensure_future(post(transport, server.url))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await post(transport, server.url, pool=0.1)
        assert (await slow).status_code == 200
    await transport.aclose()


async def test_tls_is_verified() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with raw_server(always(OK), tls=server_context) as server:
        good = PooledTransport(max_connections=2, ssl_context=trusting)
        assert (await post(good, server.url)).json() == {"ok": True}
        await good.aclose()
        # the context of a plain-http endpoint trusts no certificate at all
        plain = make_transport(2, "http://127.0.0.1/v1")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await post(plain, server.url)
        await plain.aclose()


async def test_json_endpoint_maps_transport_errors() -> None:
    async with raw_server(lambda _n: (None, False)) as server:
        endpoint = JsonEndpoint(plain_transport(), server.url, {}, timeout=0.2)
        with pytest.raises(RequestTimeout):
            await endpoint.post({"q": 1})
        await endpoint.aclose()
    async with raw_server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{", True)) as s:
        endpoint = JsonEndpoint(plain_transport(), s.url, {}, timeout=2.0)
        with pytest.raises(ConnectionFailed, match=r"RemoteProtocolError: .* peer closed"):
            await endpoint.post({"q": 1})
        await endpoint.aclose()
    async with raw_server(always(OK)) as s:
        endpoint = JsonEndpoint(plain_transport(), s.url, {"authorization": "Bearer k"}, 2.0)
        parsed, seconds = await endpoint.post({"q": 1})
        await endpoint.aclose()
    assert parsed == {"ok": True} and seconds >= 0
    assert json.loads(s.requests[0].split(b"\r\n\r\n", 1)[1]) == {"q": 1}
    assert b"authorization: Bearer k" in s.requests[0]
    assert b"user-agent: harness/" in s.requests[0] and b"accept: application/json" in s.requests[0]
