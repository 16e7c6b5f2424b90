"""Closing clients: failures logged, one deadline, connections reset past it."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from django.test import override_settings

import sessionhub
from sessionhub.asgi import lifespan


class BrokenClose:
    """A client whose close fails, as a buggy FACTORY's might."""

    def __init__(self, config: object) -> None:
        pass

    async def aclose(self) -> None:
        raise OSError("socket already gone")


class SyncClose:
    """A client with a plain, synchronous close()."""

    def __init__(self, config: object) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class NeverCloses:
    """A client whose close never returns (until it is cancelled)."""

    def __init__(self, config: object) -> None:
        self.closing = False

    async def aclose(self) -> None:
        self.closing = True
        await asyncio.Event().wait()


@override_settings(
    SESSIONHUB={
        "default": {},
        "broken": {"FACTORY": "tests.test_closing.BrokenClose"},
        "plain": {"FACTORY": "tests.test_closing.SyncClose"},
    }
)
async def test_a_client_that_fails_to_close_is_logged_and_the_others_still_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="sessionhub"):
        async with lifespan():
            session, plain = sessionhub.get(), sessionhub.get("plain")
    assert session.closed and plain.closed
    assert "lifespan finished: closed 2 client(s)" in caplog.text
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = failure.getMessage()
    assert message.startswith("closing client 'broken' (tests.test_closing.BrokenClose) failed")
    assert failure.exc_info is not None
    assert "OSError: socket already gone" in caplog.text


@override_settings(
    SESSIONHUB={"default": {}, "stuck": {"FACTORY": "tests.test_closing.NeverCloses"}},
    SESSIONHUB_CLOSE_TIMEOUT=0.5,
)
async def test_the_close_bound_is_the_bound_even_for_a_close_that_never_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        async with lifespan():
            stuck, session = sessionhub.get("stuck"), sessionhub.get()
            leaving = loop.time()
    took = loop.time() - leaving
    assert stuck.closing and session.closed
    # The shutdown (no receivers here) took the close bound, and no grace on top.
    assert 0.5 <= took < 0.5 + 0.05, took
    assert "closing client(s) 'stuck' took longer than SESSIONHUB_CLOSE_TIMEOUT" in caplog.text


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes handshakes but never reads: an upload to it never ends."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


class Upload:
    """A large upload body that notes when the kernel stopped taking it."""

    def __init__(self) -> None:
        self.sent = 0
        self.last = 0.0

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        for _ in range(1024):
            self.sent += 1
            self.last = loop.time()
            yield b"x" * 65536

    def stalled(self) -> bool:
        return self.sent > 0 and asyncio.get_running_loop().time() - self.last > 0.2


@override_settings(SESSIONHUB_CLOSE_TIMEOUT=0.3)
async def test_closing_past_the_bound_resets_the_connections_still_open(
    silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    outcome: list[BaseException] = []
    loop = asyncio.get_running_loop()
    body = Upload()

    async def upload(session: aiohttp.ClientSession) -> None:
        try:
            url = f"http://127.0.0.1:{silent_port}/"
            async with session.post(url, data=body.chunks(), timeout=aiohttp.ClientTimeout()):
                pass
        except aiohttp.ClientError as exc:
            outcome.append(exc)

    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        async with lifespan():
            session = sessionhub.get()
            task = asyncio.create_task(upload(session))
            async with asyncio.timeout(10):
                while not body.stalled():  # the send buffers are full: the upload hangs
                    await asyncio.sleep(0.01)
            leaving = loop.time()
    assert 0.3 <= loop.time() - leaving < 0.3 + 0.05
    assert "aborting their 1 connection(s)" in caplog.text
    await task
    assert len(outcome) == 1  # the upload failed instead of hanging
    assert session.closed
