"""The overload benchmark's upstream: slow, capacity-limited, or hung.

``python -m bench.slow_upstream --delay 1 --concurrency 50`` answers every GET
with a small JSON body after ``--delay`` seconds, serving at most
``--concurrency`` requests at once (0: no limit; the others queue, in order).
``--hang`` reads requests and never answers. It prints ``listening on PORT``
once it accepts connections on 127.0.0.1, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

from bench import loops

__all__ = ["main"]

BODY = b'{"ok": true, "text": "' + b"x" * 200 + b'"}'


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--concurrency", type=int, default=0, help="requests served at once")
    parser.add_argument("--hang", action="store_true", help="never answer")
    args = parser.parse_args()
    loops.run(lambda: _serve(args.delay, args.concurrency, args.hang))


async def _serve(delay: float, concurrency: int, hang: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    slots = asyncio.Semaphore(concurrency) if concurrency else None

    async def answer(request: web.BaseRequest) -> web.StreamResponse:
        if hang:
            await stop.wait()  # the client gives up first; this ends with the server
        elif slots is None:
            await asyncio.sleep(delay)
        else:
            async with slots:
                await asyncio.sleep(delay)
        return web.Response(body=BODY, content_type="application/json")

    server = web.Server(answer, access_log=None)
    listener = await loop.create_server(server, "127.0.0.1", 0, backlog=4096)
    print(f"listening on {listener.sockets[0].getsockname()[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        listener.close()
        await server.shutdown(1)


if __name__ == "__main__":
    main()
    sys.exit(0)
