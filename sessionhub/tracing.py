"""The public hooks of aiohttp and httpx, feeding each client's ``metrics.Pool``.

aiohttp: a client middleware (each request and its outcome), a
``TCPConnector`` whose ``connect()`` (the public step that gets a request a
connection) says when a request waits for one, and a ``socket_factory``, since
a socket made for a connection says when that connection closes: an event
loop given a socket owns it, and asyncio closes it when the connection ends
while uvloop detaches it (checked: CPython 3.11 to 3.13, uvloop 0.21 to 0.23).
Not a ``TraceConfig``: with one, aiohttp sends every event of every request
through it, which cost a third more instructions per call than a plain
session (callgrind, aiohttp 3.14); these hooks cost a few percent.
httpx: a ``request`` event hook that traces each request through httpcore's
``trace`` extension.
"""

from __future__ import annotations

import contextvars
import socket
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp

from sessionhub import metrics
from sessionhub.metrics import Origin, Pool

if TYPE_CHECKING:
    import httpx

    from sessionhub.options import ClientConfig

__all__ = ["Aiohttp", "Httpx"]

# The request whose connection is being found or opened, for the connector
# and the socket factory, which are not given it.
_request: contextvars.ContextVar[SimpleNamespace | None] = contextvars.ContextVar(
    "sessionhub_request", default=None
)


class Aiohttp:
    """What an aiohttp session (``middleware``) and its connector (``connector()``) take
    to count their pool, for the client ``config`` configures."""

    def __init__(self, config: ClientConfig) -> None:
        self.pool = Pool(config.name, config.limit, config.limit_per_host, config.timeout)

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """A ``TCPConnector`` with ``options`` that counts its connections into the pool."""
        return _Connector(self.pool, socket_factory=_socket, **options)

    async def middleware(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """Count ``request`` from its start to its response's head, or its failure."""
        ctx = SimpleNamespace(sockets=[])
        pool = self.pool
        pool.started(ctx, request.url, request.method)
        token = _request.set(ctx)
        try:
            response = await handler(request)
        except BaseException as exc:
            pool.finished(ctx, None, exc)
            raise
        finally:
            _request.reset(token)
        pool.finished(ctx, response.status)
        return response


class _Connector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that tells its pool when a request waits for a connection,
    and whether it got a new one."""

    def __init__(self, pool: Pool, **options: Any) -> None:
        super().__init__(**options)
        self.sessionhub_pool = pool

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> aiohttp.connector.Connection:
        ctx = _request.get()
        if ctx is None:  # a request sent without sessionhub's middleware
            return await super().connect(req, traces, timeout)
        pool = self.sessionhub_pool
        pool.queued(ctx)  # raises PoolOverloadedError to refuse it at once
        try:
            connection = await super().connect(req, traces, timeout)
        finally:
            pool.dequeued(ctx)
        # The socket of the attempt that made a new connection: still open.
        opened = [s for s in ctx.sockets if s.fileno() != -1 and s.pool is None]
        for sock in opened:
            sock.pool, sock.origin = pool, ctx.origin
            sock.opened = pool.connection_opened(ctx.origin)
        ctx.sockets.clear()
        pool.connected(ctx, new=bool(opened))
        return connection


def _socket(addr_info: Any) -> socket.socket:
    """The connector's ``socket_factory``: a socket that says when its connection ends."""
    family, type_, proto, _, _ = addr_info
    sock = _Socket(family, type_, proto)
    ctx = _request.get()
    if ctx is not None:
        ctx.sockets.append(sock)
    return sock


class _Socket(socket.socket):
    """A socket that tells its pool when its connection ends."""

    pool: Pool | None = None
    origin: Origin | None = None
    opened = 0.0

    def close(self) -> None:
        self._ended()
        super().close()

    def detach(self) -> int:
        self._ended()
        return super().detach()

    def _ended(self) -> None:
        if self.pool is not None and self.origin is not None:
            self.pool.connection_closed(self.origin, self.opened)
            self.pool = self.origin = None


class Httpx:
    """The ``request`` event hook (``hook``) that counts an httpx client's pool, for the
    client ``config`` configures. httpx has no per-host limit."""

    def __init__(self, config: ClientConfig) -> None:
        self.pool = Pool(config.name, config.limit, 0, config.timeout)

    async def hook(self, request: httpx.Request) -> None:
        """Trace ``request``, unless its caller traces it (its own ``trace`` extension)."""
        if "trace" in request.extensions:
            return
        pool = self.pool
        ctx = SimpleNamespace(first=True, done=False)
        pool.started(ctx, request.url, request.method)
        pool.sweep()

        async def trace(event: str, info: dict[str, Any]) -> None:
            _httpx_event(pool, ctx, event, info)

        request.extensions["trace"] = trace


def _httpx_event(pool: Pool, ctx: SimpleNamespace, event: str, info: dict[str, Any]) -> None:
    layer, _, step = event.partition(".")
    if ctx.done:  # reading the body, closing the response
        return
    if ctx.first and step in ("connect_tcp.started", "send_request_headers.started"):
        # httpx does not say whether a request queued: every request's time
        # until it had a connection counts as its wait.
        ctx.first = False
        pool.waited(ctx, metrics.now() - ctx.started)
        if step == "send_request_headers.started":
            pool.connected(ctx, new=False)
    elif step == "connect_tcp.complete":
        sock = info["return_value"].get_extra_info("socket")
        if sock is not None:  # pragma: no branch - httpcore's backends all give it
            pool.watched.append((sock, ctx.origin, pool.connection_opened(ctx.origin)))
        pool.connected(ctx, new=True)
    elif step == "receive_response_headers.complete":
        answer = info["return_value"]
        ctx.done = True
        pool.finished(ctx, answer[1] if layer == "http11" else answer[0])
    elif step.endswith(".failed"):
        ctx.done = True
        pool.finished(ctx, None, info["exception"])
