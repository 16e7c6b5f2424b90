"""A time to first request for uvicorn's connections, served by real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

from sessionhub import idle

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(first_request: float) -> AsyncIterator[int]:
    """uvicorn with the bounded protocol on a port of its own; yields the port."""
    protocol = idle.protocol(first_request)
    assert protocol is not None
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=protocol, lifespan="off", log_level="warning", timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        listener.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes the connection (within a deadline) without a byte."""
    async with asyncio.timeout(10):
        return await reader.read() == b""


async def test_connections_that_send_no_whole_request_head_are_closed() -> None:
    async with serving(0.2) as port:
        silent = await asyncio.open_connection("127.0.0.1", port)
        trickling = await asyncio.open_connection("127.0.0.1", port)
        trickling[1].write(REQUEST[:20])  # a request line, no end of head: still not a request
        assert await closed_by_server(silent[0])
        assert await closed_by_server(trickling[0])
        for _, writer in (silent, trickling):
            writer.close()
            await writer.wait_closed()


async def test_a_connection_that_sent_a_request_is_kept_past_the_bound() -> None:
    async with serving(0.2) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        first = await reader.readuntil(b"ok")
        # A connection opened after that response is closed for its silence ...
        probe, probing = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(probe)
        # ... while the one that made a request still serves the next.
        writer.write(REQUEST)
        second = await reader.readuntil(b"ok")
        assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
        for w in (writer, probing):
            w.close()
            await w.wait_closed()


class Config:
    def __init__(self, http: str) -> None:
        self.http: Any = http


@pytest.mark.parametrize(
    ("http", "replaced"), [("auto", True), ("httptools", True), ("h11", False)]
)
def test_only_the_httptools_protocol_is_bounded(http: str, replaced: bool) -> None:
    config = Config(http)
    idle.bound(config, keepalive=0)
    assert (config.http != http) is replaced


def test_without_httptools_connections_are_left_unbounded_and_that_is_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn.protocols.http.httptools_impl", None)
    config = Config("auto")
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        idle.bound(config, keepalive=5)
    assert config.http == "auto"
    assert "httptools is not installed" in caplog.text
