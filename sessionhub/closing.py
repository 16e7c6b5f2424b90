"""Closing clients: at the end of their loop, and within a bound.

Two jobs. ``park()`` leaves a tiny async generator suspended on the running
loop: the loop tracks every async generator started on it and ``aclose()``\\ s
them in ``loop.shutdown_asyncgens()``, which ``asyncio.run``,
``asyncio.Runner`` (so pytest-asyncio and ``IsolatedAsyncioTestCase``),
asgiref's ``async_to_sync`` and uvicorn all call before closing a loop; the
generator's ``finally`` then closes what is still open. ``close_clients()``
closes clients concurrently within ``SESSIONHUB_CLOSE_TIMEOUT``, and resets
the connections of a close that hangs.
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
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from sessionhub import compat, conf
from sessionhub.building import type_name

__all__ = ["close_clients", "close_timeout", "limit_close_timeout", "park"]

logger = logging.getLogger("sessionhub")

# Set by sessionhub's gunicorn worker when SESSIONHUB_CLOSE_TIMEOUT does not
# fit in gunicorn's graceful_timeout (see sessionhub.workers).
_close_limit: float | None = None


def close_timeout() -> float:
    """Seconds closing a loop's clients may take: ``SESSIONHUB_CLOSE_TIMEOUT``, or less."""
    bound = conf.close_timeout()
    return bound if _close_limit is None else min(bound, _close_limit)


def limit_close_timeout(seconds: float | None) -> None:
    """Cap ``close_timeout()`` at ``seconds`` in this process (``None``: no cap)."""
    global _close_limit
    _close_limit = seconds


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
    clients: list[tuple[str, Any]], loop_name: str, level: int, bound: float | None = None
) -> int:
    """Close ``clients`` (name, client) concurrently; return how many closed cleanly.

    Closing that takes longer than ``bound`` (default ``close_timeout()``)
    aborts the connections it waits for with a TCP reset.
    """
    bound = close_timeout() if bound is None else bound
    # Note each client's connections now: closing forgets them, and they are
    # what must be aborted if closing hangs.
    jobs = {
        asyncio.ensure_future(_close(name, client, loop_name, level)): (
            name,
            compat.open_transports(client),
        )
        for name, client in clients
    }
    done, pending = await asyncio.wait(jobs, timeout=bound)
    if pending:
        transports = [t for task in pending for t in jobs[task][1]]
        logger.warning(
            "closing client(s) %s took longer than SESSIONHUB_CLOSE_TIMEOUT (%s s); aborting "
            "its %d connection(s) (pid %d, loop %s)",
            ", ".join(sorted(repr(jobs[task][0]) for task in pending)),
            bound,
            len(transports),
            os.getpid(),
            loop_name,
        )
        for transport in transports:
            _reset(transport)
        # Aborted connections report connection_lost at once, which is what
        # the closes were waiting for; whatever still waits is cancelled.
        finished, pending = await asyncio.wait(pending, timeout=1.0)
        done |= finished
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
    return sum(1 for task in done if not task.cancelled() and task.result())


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
            type_name(client),
            os.getpid(),
            loop_name,
        )
        return False
    logger.log(
        level,
        "closed client %r (%s) in %.1f ms (pid %d, loop %s)",
        name,
        type_name(client),
        (time.perf_counter() - started) * 1000,
        os.getpid(),
        loop_name,
    )
    return True
