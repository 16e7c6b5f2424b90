"""A real aiohttp upstream on 127.0.0.1, served from its own thread and loop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.threads import loop_thread

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Upstream:
    """What the tests see of a running upstream."""

    port: int = 0
    requests: int = 0
    # Client (host, port) pairs that connected: one per TCP connection.
    peers: set[tuple[str, int]] = field(default_factory=set)
    # The headers of every request, in order.
    headers: list[dict[str, str]] = field(default_factory=list)
    # Requests held at /gate until release() (set by running_upstream).
    waiting: int = 0
    release: Callable[[], object] = lambda: None

    @property
    def url(self) -> str:
        return self.url_for("/json")

    def url_for(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@contextmanager
def running_upstream(ssl_context: ssl.SSLContext | None = None) -> Iterator[Upstream]:
    """Serve the upstream (over TLS with ``ssl_context``) for the block; stop it afterwards."""
    upstream = Upstream()

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        upstream.requests += 1
        upstream.headers.append(dict(request.headers))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            upstream.peers.add((peer[0], peer[1]))
        return await handler(request)

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "n": upstream.requests})

    async def echo(request: web.Request) -> web.Response:
        """The request's headers and path, as the upstream saw them."""
        return web.json_response({"path": request.path, "headers": dict(request.headers)})

    async def slow(request: web.Request) -> web.Response:
        """Answer after ``?seconds=`` (headers and body come together)."""
        await asyncio.sleep(float(request.query.get("seconds", "1")))
        return web.json_response({"ok": True})

    gate = asyncio.Event()

    async def gated(request: web.Request) -> web.Response:
        """Answer once the test calls ``upstream.release()``, ``?after=`` seconds later."""
        upstream.waiting += 1
        try:
            await gate.wait()
        finally:
            upstream.waiting -= 1
        await asyncio.sleep(float(request.query.get("after", "0")))
        return web.json_response({"ok": True, "gated": True})

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        response.set_cookie("sid", request.query.get("value", "user-a"))
        return response

    async def serve(ready: Callable[[], None], stop: asyncio.Event) -> None:
        app = web.Application(middlewares=[record])
        app.router.add_get("/json", handle)
        app.router.add_get("/echo", echo)
        app.router.add_get("/echo/{tail:.*}", echo)
        app.router.add_get("/slow", slow)
        app.router.add_get("/gate", gated)
        app.router.add_get("/set-cookie", set_cookie)
        # A slow handler still running at the end must not hold the test up.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
            await site.start()
            assert runner.addresses
            upstream.port = runner.addresses[0][1]
            ready()
            await stop.wait()
        finally:
            await runner.cleanup()

    with loop_thread("upstream", serve) as loop:
        upstream.release = lambda: loop.call_soon_threadsafe(gate.set)
        yield upstream
