"""A TCP proxy on loopback that makes its upstream look far away.

Every chunk is forwarded after ``--one-way-ms`` (so a round trip through the
proxy costs twice that), in order, in both directions. A new connection is
held for one round trip before the proxy reads from it, standing in for the
TCP handshake a client pays before it can send anything to a remote host. TLS
passes through untouched, so a TLS handshake pays its own round trips on top.

Run by the benchmark as ``python -m bench.latency_proxy``. There is no flow
control: it is meant for small API answers, not bulk transfers.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
from collections import deque
from typing import Final, cast

from bench import loops

__all__ = ["main"]


class _Eof:
    """Marker: the sender half-closed its side."""


class _Close:
    """Marker: the sender's connection is gone."""


EOF: Final = _Eof()
CLOSE: Final = _Close()


class _DelayedPipe:
    """One direction of a connection: writes what it is given ``delay`` seconds later."""

    def __init__(self, delay: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._delay = delay
        self._queue: deque[tuple[float, bytes | _Eof | _Close]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.target: asyncio.Transport | None = None

    def push(self, item: bytes | _Eof | _Close) -> None:
        self._queue.append((self._loop.time() + self._delay, item))
        if self._timer is None and self.target is not None:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)

    def attach(self, target: asyncio.Transport) -> None:
        """Start delivering to ``target`` (what was pushed before is delivered on time)."""
        self.target = target
        if self._queue and self._timer is None:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        target = self.target
        assert target is not None
        # The first item is due: this timer was set for it. Later ones may be too.
        now = self._loop.time()
        first = True
        while self._queue and (first or self._queue[0][0] <= now):
            first = False
            _, item = self._queue.popleft()
            if isinstance(item, bytes):
                if not target.is_closing():
                    target.write(item)
            elif isinstance(item, _Eof):
                if not target.is_closing() and target.can_write_eof():
                    target.write_eof()
            else:
                target.close()
                self._queue.clear()
        if self._queue:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)


class _Side(asyncio.Protocol):
    """One socket of a proxied connection; what it reads goes into ``outgoing``."""

    def __init__(self, outgoing: _DelayedPipe) -> None:
        self.outgoing = outgoing

    def data_received(self, data: bytes) -> None:
        self.outgoing.push(data)

    def eof_received(self) -> bool:
        self.outgoing.push(EOF)
        return True  # keep the other direction open until it closes too

    def connection_lost(self, exc: Exception | None) -> None:
        self.outgoing.push(CLOSE)


class _ClientSide(_Side):
    """The accepted connection: connects to the upstream after one round trip."""

    def __init__(self, target: tuple[str, int], one_way: float) -> None:
        super().__init__(_DelayedPipe(one_way))
        self._target = target
        self._one_way = one_way
        self._incoming = _DelayedPipe(one_way)
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        transport = cast(asyncio.Transport, transport)
        self._incoming.attach(transport)
        transport.pause_reading()
        self._task = asyncio.create_task(self._connect(transport))

    async def _connect(self, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(2 * self._one_way)  # the handshake a remote host would cost
        try:
            upstream, _ = await loop.create_connection(
                lambda: _Side(self._incoming), *self._target
            )
        except OSError:
            transport.abort()
            return
        self.outgoing.attach(upstream)
        if not transport.is_closing():
            transport.resume_reading()


def main() -> None:
    """Proxy until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--one-way-ms", type=float, required=True)
    args = parser.parse_args()
    loops.run(lambda: _serve(args.listen_fd, ("127.0.0.1", args.target_port), args.one_way_ms))


async def _serve(fd: int, target: tuple[str, int], one_way_ms: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(
        lambda: _ClientSide(target, one_way_ms / 1000), sock=socket.socket(fileno=fd)
    )
    try:
        await stop.wait()
    finally:
        server.close()


if __name__ == "__main__":
    main()
