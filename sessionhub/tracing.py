"""The public tracing hooks of aiohttp and httpx, feeding each client's ``metrics.Pool``.

aiohttp: a ``TraceConfig`` (requests, waits for a pooled connection,
connections created or reused), and a ``socket_factory`` for its
``TCPConnector``, since aiohttp traces no connection closing: an event loop
given a socket for a connection owns it, and asyncio closes it when the
connection ends while uvloop detaches it (checked: CPython 3.11 to 3.13, uvloop
0.21 to 0.23), so the socket says when. httpx: a ``request`` event hook that
traces each request through httpcore's ``trace`` extension.
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

__all__ = ["Aiohttp", "Httpx", "pool_of"]

# The request whose connection is being opened: a socket factory gets none.
_request: contextvars.ContextVar[SimpleNamespace | None] = contextvars.ContextVar(
    "sessionhub_request", default=None
)


class Aiohttp:
    """What an aiohttp session (``trace_config``) and its connector (``socket``) take to
    count their pool, for the client ``config`` configures."""

    def __init__(self, config: ClientConfig) -> None:
        self.pool = Pool(config.name, config.limit, config.limit_per_host, config.timeout)
        trace = _Trace(self.pool)
        trace.on_request_start.append(self._start)
        trace.on_connection_queued_start.append(self._queued)
        trace.on_connection_queued_end.append(self._dequeued)
        trace.on_connection_create_end.append(self._created)
        trace.on_connection_reuseconn.append(self._reused)
        trace.on_request_end.append(self._end)
        trace.on_request_exception.append(self._failed)
        trace.freeze()
        self.trace_config = trace

    def socket(self, addr_info: Any) -> socket.socket:
        """The connector's ``socket_factory``: a socket that says when its connection ends."""
        family, type_, proto, _, _ = addr_info
        sock = _Socket(family, type_, proto)
        ctx = _request.get()
        if ctx is not None:
            ctx.sockets.append(sock)
        return sock

    async def _start(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        self.pool.started(ctx, params.url, params.method)
        ctx.sockets = []
        _request.set(ctx)

    async def _queued(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        self.pool.queued(ctx)

    async def _dequeued(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        self.pool.dequeued(ctx)

    async def _created(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        for sock in ctx.sockets:  # the one of its attempts still open
            if sock.fileno() != -1 and sock.pool is None:
                sock.pool, sock.origin = self.pool, ctx.origin
                sock.opened = self.pool.connection_opened(ctx.origin)
        ctx.sockets.clear()
        self.pool.connected(ctx, new=True)

    async def _reused(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        self.pool.connected(ctx, new=False)

    async def _end(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        _request.set(None)
        self.pool.finished(ctx, params.response.status)

    async def _failed(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        _request.set(None)
        self.pool.dequeued(ctx)
        self.pool.finished(ctx, None, params.exception)


class _Trace(aiohttp.TraceConfig):
    """A ``TraceConfig`` that knows its pool (``pool_of()`` finds it in ``trace_configs``)."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool


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
        if sock is not None:
            pool.watched.append((sock, ctx.origin, pool.connection_opened(ctx.origin)))
        pool.connected(ctx, new=True)
    elif step == "receive_response_headers.complete":
        answer = info["return_value"]
        ctx.done = True
        pool.finished(ctx, answer[1] if layer == "http11" else answer[0])
    elif step.endswith(".failed"):
        ctx.done = True
        pool.finished(ctx, None, info["exception"])


def pool_of(client: Any) -> Pool | None:
    """The pool counted for ``client``; ``None`` for a client these hooks do not trace."""
    if isinstance(client, aiohttp.ClientSession):
        for trace in client.trace_configs:
            if isinstance(trace, _Trace):
                return trace.pool
        return None
    hooks = getattr(client, "event_hooks", None)  # httpx
    if isinstance(hooks, dict):
        for hook in hooks.get("request", ()):
            owner = getattr(hook, "__self__", None)
            if isinstance(owner, Httpx):
                return owner.pool
    return None
