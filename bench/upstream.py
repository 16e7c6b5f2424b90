"""The upstream: a small JSON API over HTTP and HTTPS that counts its TCP connections.

Run by the benchmark as ``python -m bench.upstream`` with listening sockets it
inherits. A third, plain-HTTP socket serves ``GET /stats``: the connections
accepted and requests served since the last ``GET /stats?reset=1``. Traffic on
it is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import ssl
from dataclasses import dataclass

from aiohttp import web

from bench import loops

__all__ = ["main"]

# About the size of a small API answer.
BODY = json.dumps(
    {"id": 42, "name": "sessionhub bench", "tags": ["a", "b", "c"], "text": "x" * 200}
).encode()


@dataclass
class _Counters:
    connections: int = 0
    requests: int = 0


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http-fd", type=int, required=True)
    parser.add_argument("--https-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before answering")
    args = parser.parse_args()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    loops.run(
        lambda: _serve(
            data=[(args.http_fd, None), (args.https_fd, tls)],
            control=args.control_fd,
            delay=args.delay_ms / 1000,
        )
    )


async def _serve(
    data: list[tuple[int, ssl.SSLContext | None]], control: int, delay: float
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    counters = _Counters()

    async def answer(request: web.BaseRequest) -> web.StreamResponse:
        counters.requests += 1
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=BODY, content_type="application/json")

    async def stats(request: web.BaseRequest) -> web.StreamResponse:
        body = {"connections": counters.connections, "requests": counters.requests}
        if request.query.get("reset"):
            counters.connections = counters.requests = 0
        return web.json_response(body)

    api = web.Server(answer, access_log=None)

    def accept() -> asyncio.BaseProtocol:
        # Called once for every TCP connection the kernel hands over.
        counters.connections += 1
        return api()

    servers = [
        await loop.create_server(accept, sock=socket.socket(fileno=fd), ssl=tls)
        for fd, tls in data
    ]
    control_server = web.Server(stats, access_log=None)
    servers.append(await loop.create_server(control_server, sock=socket.socket(fileno=control)))
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        await api.shutdown(1)
        await control_server.shutdown(1)


if __name__ == "__main__":
    main()
