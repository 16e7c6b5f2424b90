"""A real aiohttp upstream on 127.0.0.1, served from its own thread and loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Upstream:
    """What the tests see of a running upstream."""

    port: int = 0
    requests: int = 0
    # Client (host, port) pairs that connected: one per TCP connection.
    peers: set[tuple[str, int]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/json"


@contextmanager
def running_upstream() -> Iterator[Upstream]:
    """Serve the upstream for the duration of the block; stop it afterwards."""
    upstream = Upstream()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def handle(request: web.Request) -> web.Response:
        upstream.requests += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            upstream.peers.add((peer[0], peer[1]))
        return web.json_response({"ok": True, "n": upstream.requests})

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/json", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            assert runner.addresses
            upstream.port = runner.addresses[0][1]
            ready.set()
            await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:  # surfaced by the main thread
            failure.append(exc)
            ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="upstream", daemon=True)
    thread.start()
    try:
        if not ready.wait(10) or failure:
            raise RuntimeError(f"upstream did not start: {failure!r}")
        yield upstream
    finally:
        with suppress(RuntimeError):  # the loop already stopped on its own
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive(), "upstream thread did not stop"
