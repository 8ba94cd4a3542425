"""The webhook transport: guarded connects, and a keep-alive pool that costs O(1) per request.

Built only on public extension points, so it fails closed: `WebhookTransport` is an
`httpx.AsyncBaseTransport`, and every connection it opens is an httpcore
`AsyncHTTPConnection` whose `network_backend` is `GuardedBackend`. There is no other
path to the network, so no httpx or httpcore release can silently drop the guard; an
incompatible one fails loudly (pyproject.toml bounds both).

`GuardedBackend` (unless private targets are allowed) resolves the host itself, refuses
if any address is one `targets.is_forbidden` names, and connects to the address it
vetted. The check before sending (`targets.check_target`) decides the event's fate with
a clear reason; this one closes the gap between that check and the connect, where a
DNS answer could change (DNS rebinding). TLS still verifies the certificate against the
host name.

Why a pool of our own: httpcore 1.0's `AsyncConnectionPool` re-examines every connection
(and, for each idle one, counts all of them again) each time a request starts or ends,
and polls the socket of every idle connection while doing so. Measured with 32-50
connections to one receiver, that bookkeeping took more CPU than the requests
themselves, and throughput *fell* as concurrency rose. The flusher already bounds its
own concurrency, so the pool only needs to hand out an idle connection or open a new
one: a stack per origin does. Each connection is httpcore's own (HTTP/1.1, TLS with the
standard verified context, keep-alive expiry); the transport converts requests and
responses and maps httpcore's exceptions to httpx's, as httpx's own transport does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from ctripctl.webhooks.targets import is_forbidden

if TYPE_CHECKING:
    import ssl

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept; servers often drop them after that
_Key = tuple[bytes, bytes, int | None]

# httpcore's exceptions as httpx's, most specific first (a subclass before its base)
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class WebhookTransport(httpx.AsyncBaseTransport):
    """httpx requests over the stack pool, every connection opened through `GuardedBackend`."""

    def __init__(self, *, max_connections: int, allow_private: bool) -> None:
        self.backend = GuardedBackend(allow_private=allow_private)
        self._pool = StackPool(
            ssl_context=httpx.create_ssl_context(), max_idle=max_connections, network_backend=self.backend
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    """The body as httpx sees it: httpcore's errors while reading become httpx's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._stream.aclose()


class StackPool:
    """Idle HTTP/1.1 connections per origin, most recently used first; no global scans."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_idle: int,
        network_backend: httpcore.AsyncNetworkBackend,
    ) -> None:
        self._ssl_context = ssl_context
        self._network_backend = network_backend
        self._max_idle = max_idle
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        key: _Key = (request.url.scheme, request.url.host, request.url.port)
        connection = await self._checkout(key, request.url.origin)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await connection.aclose()
            raise
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_ReleasingStream(response.stream, self, key, connection),
            extensions=response.extensions,
        )

    async def _checkout(self, key: _Key, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        stack = self._idle.get(key)
        while stack:
            connection = stack.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            network_backend=self._network_backend,
        )

    async def release(self, key: _Key, connection: httpcore.AsyncHTTPConnection) -> None:
        """Back on the stack if it can take another request (response fully read), else closed."""
        stack = self._idle.setdefault(key, [])
        if not self._closed and connection.is_idle() and len(stack) < self._max_idle:
            stack.append(connection)
        else:
            await connection.aclose()

    async def aclose(self) -> None:
        self._closed = True
        for stack in self._idle.values():
            while stack:
                await stack.pop().aclose()

    async def __aenter__(self) -> StackPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _ReleasingStream:
    """The response body; closing it returns the connection to the pool."""

    def __init__(self, stream: Any, pool: StackPool, key: _Key, connection: httpcore.AsyncHTTPConnection):
        self._stream = stream
        self._pool = pool
        self._key = key
        self._connection = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            await self._pool.release(self._key, self._connection)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses a public webhook may reach, and to exactly the one it checked."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not self._allow_private:
            host = await self._vetted(host, port)
        return await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def _vetted(self, host: str, port: int) -> str:
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve to any address")
        for address in addresses:
            if is_forbidden(address):
                raise httpcore.ConnectError(f"refused: {host} resolves to a private or internal address")
        return str(addresses[0])

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never sent over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def make_transport(*, max_connections: int, allow_private: bool = False) -> WebhookTransport:
    """The webhook transport: stack pool, guarded connects, no proxies (none is ever consulted)."""
    return WebhookTransport(max_connections=max_connections, allow_private=allow_private)
