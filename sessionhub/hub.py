"""The per-loop registry: one aiohttp session for each running event loop.

A session is created inside the loop that will use it, on the first ``get()``
there (or at lifespan startup), and closed exactly once:

* when the (last) ASGI lifespan on that loop finishes (``LifespanASGIHandler``
  calls ``_end_lifespan``), or
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

    __slots__ = ("closer", "finished", "lifespans", "session")

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.closer: AsyncGenerator[None, None] | None = None
        # Lifespans running on this loop (usually 0 or 1; a test may run
        # several apps' lifespans on one loop).
        self.lifespans = 0
        # Closed for good: the last lifespan finished, or the loop is winding
        # down. A new lifespan on the loop reopens it.
        self.finished = False


# An open session holds its loop strongly (session -> connector -> loop), so
# the weak key alone never drops an entry while a session is open. Closed
# entries keep no session, so they go when their loop is garbage-collected.
_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)
# Guards _states; several threads can each run a loop (async_to_sync, tests).
_lock = threading.Lock()
# Fast path for get(): the loop that last asked and its session. Reset when
# that session closes, so it never hands out a closed session.
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
            _forget_closed_loops()
            state = _states[loop] = _LoopState()
        # asyncio sets this flag when shutdown_asyncgens() starts: a closer
        # parked after that would never run. (uvloop has no such flag.)
        if state.finished or getattr(loop, "_asyncgens_shutdown_called", False):
            raise LifespanFinishedError(
                f"sessionhub.get() was called on event loop {_loop_name(loop)} after its "
                "session was closed, because its ASGI lifespan finished or the loop is "
                "shutting down. Make upstream calls before that: in a request, or in a "
                "lifespan_finished receiver."
            )
        session = state.session
        if session is None:
            # Park the closer first: if that fails, no session exists to leak.
            state.closer = _park_closer(state)
            session = state.session = _open_session(loop)
    _last = (loop, session)
    return session


def _forget_closed_loops() -> None:
    """Drop entries of loops that were closed without ``shutdown_asyncgens()``.

    Their sessions cannot be closed any more (closing needs the loop); say so,
    and stop keeping them and their loops alive. Call with ``_lock`` held.
    """
    global _last
    for loop, state in list(_states.items()):
        if loop.is_closed():
            del _states[loop]
            if state.session is not None:
                logger.warning(
                    "event loop %s was closed without loop.shutdown_asyncgens(), so its "
                    "aiohttp session could not be closed (pid %d). Run async code with "
                    "asyncio.run() or asyncio.Runner, which wind loops down properly.",
                    _loop_name(loop),
                    os.getpid(),
                )
    last = _last
    if last is not None and last[0].is_closed():
        _last = None


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
        # At loop end this also refuses new sessions from here on: one opened
        # now would never be closed.
        state.finished = True
    last = _last
    if last is not None and last[0] is loop:
        _last = None
    if session is not None:  # pragma: no branch - closers run once
        started = time.perf_counter()
        await session.close()
        logger.debug(
            "closed aiohttp session in %.1f ms (pid %d, loop %s)",
            (time.perf_counter() - started) * 1000,
            os.getpid(),
            _loop_name(loop),
        )


def _start_lifespan() -> None:
    """Note a lifespan starting on the running loop (which reopens a finished loop)."""
    loop = asyncio.get_running_loop()
    with _lock:
        state = _states.setdefault(loop, _LoopState())
        state.lifespans += 1
        state.finished = False


async def _end_lifespan() -> int:
    """Note a lifespan ending on the running loop; return how many sessions it closed.

    When the last lifespan on the loop ends, its session is closed, and later
    ``get()`` calls on the loop raise ``LifespanFinishedError``.
    """
    loop = asyncio.get_running_loop()
    with _lock:
        state = _states.setdefault(loop, _LoopState())
        state.lifespans = max(0, state.lifespans - 1)
        if state.lifespans:
            return 0
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
