"""What each client's connection pool does, counted from its library's public hooks.

sessionhub's factories attach a ``Pool`` to every client they build
(``attach()``; ``pool_of()`` finds it again), and ``sessionhub.tracing``
holds the aiohttp and httpx hooks that feed it. It counts requests,
connections created, reused and closed, and the time requests wait for a
pooled connection; it keeps, per origin, what ``shedding`` needs to
refuse a request that would wait too long. ``stats()`` and the health view read
it on the client's loop; ``sessionhub.telemetry`` exports it.
"""

from __future__ import annotations

import time
import weakref
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from sessionhub import shedding, telemetry
from sessionhub.shedding import Queue

if TYPE_CHECKING:
    import httpx
    from yarl import URL

__all__ = ["Origin", "Pool", "attach", "pool_of"]

now = time.monotonic
# At most this many origins are remembered per pool; idle ones go first.
MAX_ORIGINS = 64


class Origin(Queue):
    """One scheme, host and port a client calls: its connections and its queue."""

    __slots__ = ("attributes", "open")

    def __init__(self, attributes: dict[str, str | int]) -> None:
        super().__init__()
        # OpenTelemetry's attributes of everything counted here.
        self.attributes = attributes
        self.open = 0

    def idle(self) -> bool:
        """Whether nothing of this origin is in use, waiting or open."""
        return super().idle() and not self.open

    def label(self) -> str:
        """``scheme://host:port``."""
        a = self.attributes
        return f"{a['url.scheme']}://{a['server.address']}:{a['server.port']}"


class Pool:
    """One client's pool on its loop: counts since it was built, and what it holds now."""

    def __init__(self, name: str, limit: int, limit_per_host: int, timeout: float | None) -> None:
        self.name = name
        self.limit, self.limit_per_host, self.timeout = limit, limit_per_host, timeout
        self.requests = self.failed = self.shed = 0
        self.created = self.reused = self.closed = 0
        self.waits, self.wait_seconds, self.longest_wait = 0, 0.0, 0.0
        self.all = Queue()
        self.origins: dict[tuple[str, str, int], Origin] = {}
        # httpx's sockets, polled to see their connections close.
        self.watched: list[tuple[Any, Origin, float]] = []
        telemetry.watch(self)

    def origin(self, url: URL | httpx.URL) -> Origin:
        """The origin of ``url``, remembered."""
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, url.host or "", port)
        found = self.origins.get(key)
        if found is None:
            if len(self.origins) >= MAX_ORIGINS:
                for old in [k for k, o in self.origins.items() if o.idle()]:
                    del self.origins[old]
            attributes: dict[str, str | int] = {"sessionhub.client": self.name}
            attributes.update({"server.address": key[1], "server.port": port})
            found = self.origins[key] = Origin({**attributes, "url.scheme": key[0]})
        return found

    def started(self, ctx: SimpleNamespace, url: URL | httpx.URL, method: str) -> None:
        """A request began; ``ctx`` is where its hooks keep its state."""
        ctx.started, ctx.origin, ctx.method = now(), self.origin(url), method
        ctx.queued = ctx.held = None
        self.requests += 1

    def queued(self, ctx: SimpleNamespace) -> None:
        """A request asks for a connection: if the limits make it wait, count it as
        waiting, or raise ``PoolOverloadedError`` to refuse it."""
        origin: Origin = ctx.origin
        queue: Queue
        if self.limit_per_host and origin.active >= self.limit_per_host:
            queue, capacity = origin, self.limit_per_host
        elif self.limit and self.all.active >= self.limit:
            queue, capacity = self.all, self.limit
        else:
            self._hold(ctx, now())  # a connection is free: it holds one from now
            return
        at = now()
        try:
            shedding.check(self.name, origin.label(), queue, capacity, self.timeout, at)
        except shedding.PoolOverloadedError:
            self.shed += 1
            raise
        ctx.queued = at
        origin.waiting += 1
        self.all.waiting += 1

    def dequeued(self, ctx: SimpleNamespace) -> None:
        """A request stopped waiting for a connection (it got one, or gave up)."""
        if ctx.queued is not None:
            ctx.origin.waiting -= 1
            self.all.waiting -= 1
            self.waited(ctx, now() - ctx.queued)
            ctx.queued = None

    def waited(self, ctx: SimpleNamespace, seconds: float) -> None:
        """A request waited ``seconds`` for a connection."""
        self.waits += 1
        self.wait_seconds += seconds
        self.longest_wait = max(self.longest_wait, seconds)
        telemetry.waited(ctx.origin.attributes, seconds)

    def connected(self, ctx: SimpleNamespace, new: bool) -> None:
        """A request got a connection: a new one, or one from the pool."""
        if new:
            self.created += 1
        else:
            self.reused += 1
        if ctx.held is None:  # it waited, or the library does not say that it asked
            self._hold(ctx, now())

    def _hold(self, ctx: SimpleNamespace, at: float) -> None:
        ctx.held = at
        ctx.origin.acquire(at)
        self.all.acquire(at)

    def released(self, ctx: SimpleNamespace, at: float) -> None:
        """A request no longer holds its connection (its response's head is in, or it failed)."""
        if ctx.held is not None:
            ctx.origin.release(at, ctx.held)
            self.all.release(at, ctx.held)
            ctx.held = None

    def finished(
        self, ctx: SimpleNamespace, status: int | None, error: BaseException | None = None
    ) -> None:
        """A request ended, with a response's ``status`` or an ``error``."""
        at = now()
        self.released(ctx, at)
        if error is not None and not isinstance(error, shedding.PoolOverloadedError):
            self.failed += 1  # a refused one is counted as shed
        kind = None if error is None else type(error).__qualname__
        telemetry.finished(ctx.origin.attributes, at - ctx.started, ctx.method, status, kind)

    def connection_opened(self, origin: Origin) -> float:
        """A connection to ``origin`` opened; return when (the time to pass to closed)."""
        origin.open += 1
        return now()

    def connection_closed(self, origin: Origin, opened: float) -> None:
        """A connection to ``origin``, opened at ``opened``, has closed."""
        self.closed += 1
        origin.open -= 1
        telemetry.connection_closed(origin.attributes, now() - opened)

    def sweep(self) -> None:
        """Count the httpx connections that closed since the last sweep.

        httpx says when it opens a connection, not when it closes one: its
        socket is polled instead (asyncio and uvloop both mark it closed).
        """
        for entry in [e for e in self.watched if e[0].fileno() == -1]:
            self.watched.remove(entry)
            self.connection_closed(entry[1], entry[2])

    @property
    def open(self) -> int:
        """Connections open now."""
        return sum(origin.open for origin in self.origins.values())


# The pool each client of sessionhub's factories counts into.
_pools: weakref.WeakKeyDictionary[Any, Pool] = weakref.WeakKeyDictionary()


_Client = TypeVar("_Client")


def attach(client: _Client, pool: Pool) -> _Client:
    """Remember that ``client`` counts into ``pool`` (for ``pool_of()``); return ``client``."""
    _pools[client] = pool
    return client


def pool_of(client: Any) -> Pool | None:
    """The pool counted for ``client``; ``None`` for a client these hooks do not count."""
    return _pools.get(client)
