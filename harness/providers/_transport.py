"""An httpx transport over asyncio's own sockets, with h11 reading and writing HTTP/1.1.

Why not a library's transport: httpx's default (httpcore) stalls at the concurrency evals use
(about 12x the latency bound at 64 connections, `bench/bench_runner.py --default-transport`),
and aiohttp's, the previous choice, costs ~0.1 s of imports at every start and more CPU per
request than this: on two cores the client's CPU per request, not the network, bounds a small
run. h11 (httpx's own HTTP/1.1 state machine, a dependency of httpcore) does the protocol; what
is left here is a pool of keep-alive connections and the mapping of socket failures onto
httpx's exceptions.

What it does not do: HTTP/2, proxies (neither did the aiohttp transport: it never read the
environment's proxy settings), streaming a response before it has fully arrived (every API the
harness calls answers with one JSON body), and retrying a request on a fresh connection (the
runner's retries decide that, and a POST may have been acted on).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager

import h11
import httpx

__all__ = ["PooledTransport"]

_Origin = tuple[bytes, bytes, int]
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
# a server that keeps a connection open longer than this between requests is rare; past it, a
# fresh connection is cheaper than learning that the server closed this one meanwhile
_KEEPALIVE_EXPIRY = 5.0


class PooledTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections, at most `max_connections` in use at once.

    `ssl_context` serves https origins. Timeouts come per request, in httpx's `timeout`
    extension: `pool` (waiting for a free connection), `connect`, `read` (the whole response,
    from the end of sending); `write` is not needed, since a request is handed to the socket
    whole.
    """

    def __init__(self, *, max_connections: int, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        timeouts = request.extensions.get("timeout", {})
        origin = _origin(request.url)
        with _mapped(request):
            await self._acquire(timeouts.get("pool"), request)
            try:
                connection = self._take_idle(origin) or await self._connect(
                    origin, timeouts.get("connect"), request
                )
                body = await request.aread()
                try:
                    response, content = await connection.exchange(
                        request, body, timeouts.get("read")
                    )
                except BaseException:
                    connection.close()  # its state is unknown: a half-read reply, a cancel
                    raise
                if connection.reusable and not self._closed:
                    self._idle.setdefault(origin, []).append(connection)
                else:
                    connection.close()
            finally:
                self._slots.release()
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(content),  # httpx undoes any content-encoding as it reads
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(response.reason)},
        )

    async def _acquire(self, within: float | None, request: httpx.Request) -> None:
        if within is None or not self._slots.locked():  # no timer for a wait that cannot be
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(within):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection in time", request=request) from None

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.reusable and now - connection.idle_since < _KEEPALIVE_EXPIRY:
                return connection
            connection.close()
        return None

    async def _connect(
        self, origin: _Origin, within: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        secure = scheme == b"https"
        if not secure and scheme != b"http":
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme.decode()!r}")
        sni = request.extensions.get("sni_hostname") or host.decode("ascii")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                _, connection = await loop.create_connection(
                    _Connection,
                    host.decode("ascii"),
                    port,
                    ssl=self.ssl_context if secure else None,
                    server_hostname=sni if secure else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {within:g}s") from None
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, a certificate refused
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return connection

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One socket and its h11 state: one request at a time, its reply read whole."""

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.CLIENT)
        self._socket: asyncio.Transport | None = None
        self._reply: asyncio.Future[tuple[h11.Response, bytes]] | None = None
        self._head: h11.Response | None = None
        self._body: list[bytes] = []
        self._lost = False
        self._heard = False  # any byte of the reply to the request in flight
        self.idle_since = time.monotonic()

    @property
    def reusable(self) -> bool:
        """Whether the next request may go on this connection."""
        return not self._lost and self._h11.our_state is h11.IDLE

    async def exchange(
        self, request: httpx.Request, body: bytes, within: float | None
    ) -> tuple[h11.Response, bytes]:
        """Send `request` with `body`; its reply's head and body, read `within` seconds."""
        if self._socket is None or self._lost:
            raise httpx.RemoteProtocolError("the server closed the connection", request=request)
        self._reply = asyncio.get_running_loop().create_future()
        self._heard = False
        target = request.url.raw_path
        try:
            head = h11.Request(method=request.method, target=target, headers=request.headers.raw)
            data = self._h11.send(head) or b""
            if body:
                data += self._h11.send(h11.Data(data=body)) or b""
            data += self._h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        self._socket.write(data)
        if within is None:  # the caller's own deadline bounds it (see JsonEndpoint)
            reply = await self._reply
        else:
            try:
                async with asyncio.timeout(within):
                    reply = await self._reply
            except TimeoutError:
                raise httpx.ReadTimeout(f"no reply within {within:g}s", request=request) from None
        self._next_cycle()
        return reply

    def _next_cycle(self) -> None:
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            self._heard = False  # an end of file while idle is a close, not the end of a body
            self.idle_since = time.monotonic()
        # otherwise (Connection: close, a body ended by closing) `reusable` is now False

    def close(self) -> None:
        self._lost = True
        if self._socket is not None:
            self._socket.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._socket = transport

    def data_received(self, data: bytes) -> None:
        self._heard = True
        self._receive(data)

    def eof_received(self) -> bool:
        if self._heard:
            self._receive(b"")  # the end of a body that is delimited by the connection's end
        else:  # a stale keep-alive connection, or a server that gave up on the request
            self._lost = True
            self._fail(httpx.ReadError("the server closed the connection before replying"))
        return False  # and close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        why = f": {exc}" if exc else ""
        self._fail(httpx.ReadError(f"the server closed the connection before replying{why}"))

    def _receive(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
            self._read_events()
        except h11.RemoteProtocolError as exc:
            self._fail(httpx.RemoteProtocolError(f"unreadable HTTP reply: {exc}"))
            self.close()

    def _read_events(self) -> None:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self._head = event
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                head, body = self._head, b"".join(self._body)
                self._head, self._body = None, []
                if head is None or self._reply is None or self._reply.done():
                    raise h11.RemoteProtocolError("a reply nobody asked for")
                self._reply.set_result((head, body))
                return
            elif isinstance(event, h11.ConnectionClosed):
                self._fail(httpx.RemoteProtocolError("the server closed the connection mid-reply"))
                return
            # h11.InformationalResponse (100 Continue): the real reply follows

    def _fail(self, error: httpx.TransportError) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(error)


def _origin(url: httpx.URL) -> _Origin:
    scheme = url.raw_scheme
    port = url.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, url.raw_host, port


@contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """httpx's exceptions carry their request; those raised below get it here."""
    try:
        yield
    except httpx.TransportError as exc:
        try:
            exc.request  # noqa: B018  # set already?
        except RuntimeError:
            exc.request = request
        raise
