"""A raw TCP upstream on 127.0.0.1 whose behaviour the test switches between faults."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.threads import loop_thread

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
    writers: set[asyncio.StreamWriter] = set()
    # Hold the port for the whole block with a socket that is bound and never
    # listens: with no listener beside it, the port refuses connections, and
    # no other process can take it between "refuse" and the next "ok".
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    upstream.port = holder.getsockname()[1]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                mode = upstream.mode
                upstream.seen[mode] += 1
                if mode == "hang":  # never answer; wait for the client to give up
                    await reader.read()
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

    async def serve(ready: Callable[[], None], stop: asyncio.Event) -> None:
        server: asyncio.Server | None = None
        while not stop.is_set():
            listening = upstream.mode != "refuse"
            if listening and server is None:
                server = await asyncio.start_server(
                    handle, "127.0.0.1", upstream.port, reuse_port=True
                )
                upstream.listening = True
                ready()
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

    with holder, loop_thread("faulty-upstream", serve):
        yield upstream
