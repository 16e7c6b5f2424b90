"""Closing clients: when their loop winds down, and by a deadline.

Two jobs. ``park()`` leaves a tiny async generator suspended on the running
loop: the loop tracks every async generator started on it and ``aclose()``\\ s
them in ``loop.shutdown_asyncgens()``, which ``asyncio.run``,
``asyncio.Runner`` (so pytest-asyncio and ``IsolatedAsyncioTestCase``),
asgiref's ``async_to_sync`` and uvicorn all call before closing a loop; the
generator's ``finally`` then closes what is still open. ``close_clients()``
closes clients concurrently until a deadline, then resets the connections of
the closes still waiting and cancels them: nothing waits past the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from typing import Any

from sessionhub import compat
from sessionhub.errors import describe

__all__ = ["close_clients", "park", "unwind"]

# Passes of the loop that cancelled code gets to unwind (nested tasks and
# gathers take one each): no time of its own, so no grace on any bound.
UNWIND_PASSES = 16

logger = logging.getLogger("sessionhub")


def park(close: Callable[[], Awaitable[object]]) -> object:
    """Run ``close()`` when the running loop winds down; return what must be kept referenced.

    The caller keeps the returned generator alive for as long as the loop
    lives: collecting it earlier would run ``close()`` then.
    """
    closer = _closer(close)
    # Run it up to its ``yield`` right here, synchronously: its first step
    # registers it with the running loop's asyncgen hooks.
    step = closer.asend(None)
    try:
        step.send(None)
    except StopIteration:
        pass
    else:  # pragma: no cover - the generator awaits nothing before its yield
        raise AssertionError("sessionhub's closer awaited before parking")
    return closer


async def _closer(close: Callable[[], Awaitable[object]]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await close()


async def close_clients(
    clients: list[tuple[str, Any]], loop_name: str, level: int, deadline: float
) -> int:
    """Close ``clients`` (name, client) concurrently by ``deadline`` (loop time).

    Returns how many closed cleanly. At the deadline, the connections of the
    closes still waiting are aborted with a TCP reset and those closes are
    cancelled; a close that ignores its cancellation is left behind.
    """
    loop = asyncio.get_running_loop()
    # Note each client's connections now: closing forgets them, and they are
    # what must be aborted if closing hangs.
    jobs = {
        asyncio.ensure_future(_close(name, client, loop_name, level)): (
            name,
            compat.open_transports(client),
        )
        for name, client in clients
    }
    if not jobs:
        return 0
    _, pending = await asyncio.wait(jobs, timeout=max(0.0, deadline - loop.time()))
    if pending:
        transports = [t for job in pending for t in jobs[job][1]]
        logger.warning(
            "closing client(s) %s took longer than SESSIONHUB_CLOSE_TIMEOUT; aborting their "
            "%d connection(s) (pid %d, loop %s)",
            ", ".join(sorted(repr(jobs[job][0]) for job in pending)),
            len(transports),
            os.getpid(),
            loop_name,
        )
        for transport in transports:
            _reset(transport)
        # The aborted connections report connection_lost, which is what the
        # closes wait for; those that still wait are cancelled.
        await _passes(pending)
        await unwind({job for job in pending if not job.done()})
    return sum(1 for job in jobs if job.done() and not job.cancelled() and job.result())


async def unwind(jobs: Collection[asyncio.Future[Any]]) -> None:
    """Cancel ``jobs`` and give them ``UNWIND_PASSES`` passes of the loop to stop.

    Whatever still runs after that ignores its cancellation: it is left
    behind (its outcome never reported as unretrieved), never waited for.
    """
    for job in jobs:
        job.cancel()
    if not await _passes(jobs):
        for job in jobs:  # its outcome is never reported as unretrieved
            job.add_done_callback(lambda job: job.cancelled() or job.exception())


async def _passes(jobs: Collection[asyncio.Future[Any]]) -> bool:
    """Up to ``UNWIND_PASSES`` passes of the loop, until ``jobs`` are done; whether they are."""
    for _ in range(UNWIND_PASSES):
        if all(job.done() for job in jobs):
            return True
        await asyncio.sleep(0)
    return all(job.done() for job in jobs)


def _reset(transport: compat.Transport) -> None:
    """Abort a connection with a TCP reset, dropping what it still had to send.

    A plain abort closes the socket, and the kernel would go on trying to send
    the unsent data to the upstream that does not read it.
    """
    linger = struct.pack("ii", 1, 0)
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no socket
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    with contextlib.suppress(Exception):  # closing must go on whatever one transport does
        transport.abort()


async def _close(name: str, client: Any, loop_name: str, level: int) -> bool:
    started = time.perf_counter()
    try:
        aclose = getattr(client, "aclose", None)
        result = aclose() if callable(aclose) else client.close()
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception(
            "closing client %r (%s) failed (pid %d, loop %s)",
            name,
            describe(type(client)),
            os.getpid(),
            loop_name,
        )
        return False
    logger.log(
        level,
        "closed client %r (%s) in %.1f ms (pid %d, loop %s)",
        name,
        describe(type(client)),
        (time.perf_counter() - started) * 1000,
        os.getpid(),
        loop_name,
    )
    return True
