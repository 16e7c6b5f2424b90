"""A real aiohttp upstream that answers hostile bodies, for the demo view's tests.

``/body/<case>`` answers ``BODIES[case]``: its content type and bytes, sent
whole, chunked (no Content-Length) or gzip-compressed.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web

from tests.threads import loop_thread
from tests.upstream import Upstream

MIB = 1024 * 1024


@dataclass(frozen=True)
class Body:
    """What the upstream sends for one case."""

    content: bytes
    content_type: str = "application/json"
    chunked: bool = False
    gzipped: bool = False


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


BODIES = {
    # 5,000 deep: past what Python 3.11 parses, not 3.13; 200,000: past either.
    "deep": Body(nested(5_000)),
    "deeper": Body(nested(200_000)),
    "deep-object": Body(b'{"a":' * 5_000 + b"1" + b"}" * 5_000),
    "just-parseable-depth": Body(nested(900)),
    "nan": Body(b'{"value": NaN}'),
    "infinity": Body(b"[Infinity, -Infinity]"),
    "huge-float": Body(b'{"value": 1e999}'),
    "huge-int": Body(b'{"value": ' + b"9" * 5_000 + b"}"),
    "big-int": Body(b'{"value": ' + b"9" * 4_000 + b"}"),
    "huge": Body(b'{"pad": "' + b"x" * (2 * MIB) + b'"}'),
    "huge-chunked": Body(b'{"pad": "' + b"x" * (2 * MIB) + b'"}', chunked=True),
    "gzip-bomb": Body(b'{"pad": "' + b"x" * (64 * MIB) + b'"}', gzipped=True),
    "html": Body(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "json-as-text": Body(b'{"ok": true}', "text/plain"),
    "problem-json": Body(b'{"title": "fine"}', "application/problem+json"),
    "not-utf8": Body(b'{"value": "\xff\xfe"}'),
    "truncated": Body(b'{"value": [1, 2'),
    "empty": Body(b""),
    "lone-surrogate": Body(b'{"value": "\\ud800"}'),
    "control-characters": Body(b'{"value": "\\u0000\\u001b"}'),
}


@contextmanager
def running_bodies() -> Iterator[Upstream]:
    """Serve ``BODIES`` on 127.0.0.1 for the block; stop it afterwards."""
    upstream = Upstream()
    # Compress each bomb once, not per request.
    gzipped = {case: gzip.compress(b.content, 1) for case, b in BODIES.items() if b.gzipped}

    async def body(request: web.Request) -> web.StreamResponse:
        upstream.requests += 1
        case = request.match_info["case"]
        found = BODIES[case]
        if found.gzipped:
            headers = {"Content-Type": found.content_type, "Content-Encoding": "gzip"}
            return web.Response(body=gzipped[case], headers=headers)
        if not found.chunked:
            return web.Response(body=found.content, headers={"Content-Type": found.content_type})
        response = web.StreamResponse(headers={"Content-Type": found.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(found.content), 64 * 1024):
            await response.write(found.content[start : start + 64 * 1024])
        await response.write_eof()
        return response

    async def serve(ready: Callable[[], None], stop: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_get("/body/{case}", body)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            upstream.port = runner.addresses[0][1]
            ready()
            await stop.wait()
        finally:
            await runner.cleanup()

    with loop_thread("bodies", serve):
        yield upstream
