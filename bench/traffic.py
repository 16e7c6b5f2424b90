"""The overload benchmark's clients: open and closed loops, idle sockets, health checks.

Every request is bounded by its own timeout and every loop by a count and a
deadline; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

__all__ = ["Answer", "closed_loop", "health_checks", "idle_sockets", "open_loop"]


@dataclass(frozen=True)
class Answer:
    """One request: when it was sent (seconds from the start), its status, how long it took."""

    sent: float
    status: str
    seconds: float
    retry_after: str | None = None


async def _one(session: aiohttp.ClientSession, url: str, timeout: float, start: float) -> Answer:
    sent = time.monotonic()
    retry_after = None
    # What the proxy in front of a worker would add (deploy/nginx.conf).
    headers = {"X-Request-Start": f"t={time.time():.3f}"}
    try:
        timing = aiohttp.ClientTimeout(total=timeout)
        async with session.get(url, timeout=timing, headers=headers) as response:
            await response.read()
            status = str(response.status)
            retry_after = response.headers.get("Retry-After")
    except TimeoutError:
        status = "client timeout"
    except aiohttp.ClientError as exc:
        status = type(exc).__name__
    return Answer(sent - start, status, time.monotonic() - sent, retry_after)


def _fresh_connections() -> aiohttp.ClientSession:
    # A new connection per request, as many different users would make.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    return aiohttp.ClientSession(connector=connector)


async def open_loop(url: str, rate: float, seconds: float, timeout: float) -> list[Answer]:
    """``rate`` requests per second for ``seconds``, evenly spaced, each on a new connection.

    Arrivals do not wait for answers (an open loop): what offered load means.
    """
    count = max(1, round(rate * seconds))
    async with _fresh_connections() as session:
        start = time.monotonic()

        async def send(index: int) -> Answer:
            await asyncio.sleep(start + index / rate - time.monotonic())
            return await _one(session, url, timeout, start)

        async with asyncio.timeout(seconds + timeout + 30):
            return list(await asyncio.gather(*(send(i) for i in range(count))))


async def closed_loop(url: str, clients: int, seconds: float, timeout: float) -> list[Answer]:
    """``clients`` users, each sending its next request when the last one is answered.

    Each keeps its connection alive between requests, as a load balancer does,
    and waits 1 s before trying again after an answer other than 200.
    """
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        answers: list[Answer] = []

        async def user() -> None:
            while time.monotonic() - start < seconds:
                answers.append(answer := await _one(session, url, timeout, start))
                if answer.status != "200":
                    await asyncio.sleep(1)

        async with asyncio.timeout(seconds + timeout + 30):
            await asyncio.gather(*(user() for _ in range(clients)))
        return answers


@contextlib.asynccontextmanager
async def health_checks(url: str, interval: float = 0.5) -> AsyncIterator[list[Answer]]:
    """Check ``url`` every ``interval`` s, 5 s to answer each, while the block runs."""
    answers: list[Answer] = []
    stop = asyncio.Event()

    async def check() -> None:
        async with _fresh_connections() as session:
            start = time.monotonic()
            while not stop.is_set():
                answers.append(await _one(session, url, 5, start))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    task = asyncio.create_task(check())
    try:
        yield answers
    finally:
        stop.set()
        await task


@dataclass
class IdleSockets:
    """What the idle client saw: connections opened, and closed by the server."""

    opened: int = 0
    closed_by_server: int = 0


@contextlib.asynccontextmanager
async def idle_sockets(host: str, port: int, count: int) -> AsyncIterator[IdleSockets]:
    """Hold ``count`` TCP connections open, sending nothing; reopen any the server closes.

    What a client that wants a worker out of service does: it costs it no
    bandwidth. Yields once all ``count`` are open.
    """
    seen = IdleSockets()
    stop = asyncio.Event()
    ready = asyncio.Event()
    open_now = 0

    async def hold() -> None:
        nonlocal open_now
        while not stop.is_set():
            reader, writer = await asyncio.open_connection(host, port)
            seen.opened += 1
            open_now += 1
            if open_now >= count:
                ready.set()
            closed = asyncio.ensure_future(reader.read())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([closed, stopping], return_when=asyncio.FIRST_COMPLETED)
            open_now -= 1
            if closed.done():
                seen.closed_by_server += 1
            closed.cancel()
            stopping.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    try:
        async with asyncio.timeout(30):
            await ready.wait()
        yield seen
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks, return_exceptions=True)
