"""A raw TCP upstream on 127.0.0.1 whose behaviour the test switches between faults."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
# Promise 1000 bytes, send 10, then reset the connection.
PARTIAL = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
GARBAGE = b"SSH-2.0-OpenSSH_9.2 not an HTTP response at all\r\n\r\n"
MODES = ("ok", "refuse", "hang", "reset", "garbage")


@dataclass
class FaultyUpstream:
    """What the test sees and switches."""

    port: int = 0
    mode: str = "ok"
    # Whether the port is open right now (it closes soon after mode = "refuse").
    listening: bool = False
    # Requests read, by the mode they met.
    seen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODES, 0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/data"


@contextmanager
def running_faulty_upstream() -> Iterator[FaultyUpstream]:
    """Serve for the block. ``mode = "refuse"`` stops listening and drops every connection."""
    upstream = FaultyUpstream()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    writers: set[asyncio.StreamWriter] = set()
    # Reserve the port: "refuse" closes the listener, "ok" opens it again there.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    upstream.port = probe.getsockname()[1]
    probe.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                mode = upstream.mode
                upstream.seen[mode] += 1
                if mode == "hang":
                    await stop.wait()
                    return
                if mode == "reset":
                    writer.write(PARTIAL + b"0123456789")
                    await writer.drain()
                    writer.transport.abort()
                    return
                writer.write(GARBAGE if mode == "garbage" else OK)
                await writer.drain()
                if mode == "garbage":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writers.discard(writer)
            writer.close()

    async def serve() -> None:
        server: asyncio.Server | None = None
        while not stop.is_set():
            listening = upstream.mode != "refuse"
            if listening and server is None:
                server = await asyncio.start_server(
                    handle, "127.0.0.1", upstream.port, reuse_address=True
                )
                upstream.listening = True
                ready.set()
            elif not listening and server is not None:
                server.close()
                for writer in list(writers):
                    writer.transport.abort()
                await server.wait_closed()
                server = None
                upstream.listening = False
            await asyncio.sleep(0.02)
        if server is not None:
            server.close()
            for writer in list(writers):
                writer.transport.abort()
            await server.wait_closed()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="faulty-upstream", daemon=True)
    thread.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("faulty upstream did not start")
        yield upstream
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive(), "faulty upstream thread did not stop"
