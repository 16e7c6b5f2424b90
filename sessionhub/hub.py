"""The per-loop registry: one aiohttp session for each running event loop.

A session is created inside the loop that will use it, on the first ``get()``
there (or at lifespan startup), and closed exactly once:

* when the ASGI lifespan of that loop finishes (``LifespanASGIHandler`` calls
  ``_finish_loop``), or
* when the loop itself winds down through ``loop.shutdown_asyncgens()``, which
  ``asyncio.run``, ``asyncio.Runner`` (and so pytest-asyncio and
  ``IsolatedAsyncioTestCase``), asgiref's ``async_to_sync`` and uvicorn all
  call before closing a loop.

The second path works by parking a tiny async generator on the loop: the loop
tracks every async generator started on it and ``aclose()``\\ s them at
shutdown, and the generator's ``finally`` closes the session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator

import aiohttp

__all__ = [
    "LifespanFinishedError",
    "NoRunningLoopError",
    "SessionhubError",
    "get",
]

logger = logging.getLogger("sessionhub")


class SessionhubError(RuntimeError):
    """Base class for the errors sessionhub raises."""


class NoRunningLoopError(SessionhubError):
    """``get()`` was called where no event loop is running."""


class LifespanFinishedError(SessionhubError):
    """``get()`` was called on a loop whose session is closed for good.

    Its ASGI lifespan has finished, or the loop is shutting down.
    """


class _LoopState:
    """What the registry keeps for one loop.

    It must never hold the loop itself: it is the value of a
    ``WeakKeyDictionary`` keyed by that loop.
    """

    __slots__ = ("closer", "finished", "session")

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.closer: AsyncGenerator[None, None] | None = None
        self.finished = False


# An open session holds its loop strongly (session -> connector -> loop), so
# the weak key alone never drops an entry: closing a session removes it.
_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)
# Guards _states; several threads can each run a loop (async_to_sync, tests).
_lock = threading.Lock()
# Fast path for get(): the loop that last asked and its session. Reset when
# that session closes, so it never outlives its loop's entry in _states.
_last: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None


def get() -> aiohttp.ClientSession:
    """Return the aiohttp session of the running event loop.

    The first call on a loop creates the session; later calls on the same loop
    return the same object. Call it from a coroutine (an async view, a task);
    do not close the session yourself, sessionhub does that.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise NoRunningLoopError(
            "sessionhub.get() needs a running event loop, and none is running in thread "
            f"{threading.current_thread().name!r}. Call it from async code (an async def "
            "view, or a coroutine run by asyncio.run()), not from a sync view or at import "
            "time."
        ) from None
    last = _last
    if last is not None and last[0] is loop:
        return last[1]
    return _get_slow(loop)


def _get_slow(loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
    global _last
    with _lock:
        state = _states.get(loop)
        if state is None:
            state = _states[loop] = _LoopState()
        if state.finished:
            raise LifespanFinishedError(
                f"sessionhub.get() was called on event loop {_loop_name(loop)} after its "
                "session was closed, because its ASGI lifespan finished or the loop is "
                "shutting down. Make upstream calls before that: in a request, or in a "
                "lifespan_finished receiver."
            )
        session = state.session
        if session is None:
            session = state.session = _open_session(loop)
            state.closer = _park_closer(state)
    _last = (loop, session)
    return session


def _open_session(loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
    # A session is shared by every request a worker serves: a cookie set by an
    # upstream for one user must never be sent on behalf of another.
    session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    logger.debug("opened aiohttp session (pid %d, loop %s)", os.getpid(), _loop_name(loop))
    return session


def _park_closer(state: _LoopState) -> AsyncGenerator[None, None]:
    """Start an async generator on the running loop that closes ``state`` when finalized."""
    closer = _close_when_finalized(state)
    # Run it up to its ``yield`` right here, synchronously: its first iteration
    # registers it with the running loop's asyncgen hooks, so the loop's
    # shutdown_asyncgens() will aclose() it. The registry holds the only strong
    # reference, so it is never garbage-collected while parked.
    step = closer.asend(None)
    try:
        step.send(None)
    except StopIteration:
        pass
    else:  # pragma: no cover - the generator awaits nothing before its yield
        raise AssertionError("sessionhub's closer awaited before parking")
    return closer


async def _close_when_finalized(state: _LoopState) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await _close_state(state)


async def _close_state(state: _LoopState) -> None:
    global _last
    loop = asyncio.get_running_loop()
    with _lock:
        session, state.session, state.closer = state.session, None, None
        # Without a lifespan, the loop is winding down: refuse new sessions
        # while this one closes (one opened now would never be closed), then
        # forget the loop entirely.
        loop_end = not state.finished
        state.finished = True
    last = _last
    if last is not None and last[0] is loop:
        _last = None
    try:
        if session is not None:  # pragma: no branch - closers run once
            started = time.perf_counter()
            await session.close()
            logger.debug(
                "closed aiohttp session in %.1f ms (pid %d, loop %s)",
                (time.perf_counter() - started) * 1000,
                os.getpid(),
                _loop_name(loop),
            )
    finally:
        if loop_end:
            with _lock:
                _states.pop(loop, None)


async def _finish_loop() -> int:
    """Close the running loop's session for good; return how many were closed.

    Called by the lifespan handler at shutdown (and after a failed startup).
    Later ``get()`` calls on this loop raise ``LifespanFinishedError``.
    """
    loop = asyncio.get_running_loop()
    with _lock:
        state = _states.get(loop)
        if state is None:
            state = _states[loop] = _LoopState()
        state.finished = True
        closer = state.closer
    if closer is None:
        return 0
    await closer.aclose()
    return 1


async def open_on_startup(**kwargs: object) -> None:
    """``lifespan_started`` receiver: create the worker's session before the first request."""
    get()


def _loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return f"{type(loop).__name__}@{id(loop):#x}"
