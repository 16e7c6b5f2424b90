"""The per-loop registry: one client per configured name for each running event loop.

A client (by default an ``aiohttp.ClientSession``) is created inside the loop
that will use it, on the first ``get(name)`` there (or at lifespan startup),
and closed exactly once:

* when the (last) ASGI lifespan on that loop finishes (``LifespanASGIHandler``
  calls ``_end_lifespan``), or
* when the loop itself winds down through ``loop.shutdown_asyncgens()``, which
  ``asyncio.run``, ``asyncio.Runner`` (and so pytest-asyncio and
  ``IsolatedAsyncioTestCase``), asgiref's ``async_to_sync`` and uvicorn all
  call before closing a loop.

The second path works by parking a tiny async generator on the loop: the loop
tracks every async generator started on it and ``aclose()``\\ s them at
shutdown, and the generator's ``finally`` closes the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import socket
import struct
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

import aiohttp
from django.utils.module_loading import import_string

from sessionhub import conf

__all__ = [
    "LifespanFinishedError",
    "NoRunningLoopError",
    "SessionhubError",
    "UnknownClientError",
    "get",
]

logger = logging.getLogger("sessionhub")

Factory = Callable[[conf.ClientConfig], Any]


class SessionhubError(RuntimeError):
    """Base class for the errors sessionhub raises."""


class NoRunningLoopError(SessionhubError):
    """``get()`` was called where no event loop is running."""


class LifespanFinishedError(SessionhubError):
    """``get()`` was called on a loop whose clients are closed for good.

    Its ASGI lifespan has finished, or the loop is shutting down.
    """


class UnknownClientError(SessionhubError):
    """``get(name)`` was called with a name that ``SESSIONHUB`` does not configure."""


class _LoopState:
    """What the registry keeps for one loop.

    It must never hold the loop itself: it is the value of a
    ``WeakKeyDictionary`` keyed by that loop.
    """

    __slots__ = ("clients", "closer", "finished", "lifespans", "logged", "stopping", "visible")

    def __init__(self) -> None:
        # Every client built on this loop and not yet closed, keyed by
        # (name, override token); 0 is the configured client.
        self.clients: dict[tuple[str, int], Any] = {}
        # What get(name) returns here: a cache over ``clients`` that overrides
        # and closing empty in place (the fast path holds this very dict).
        self.visible: dict[str, Any] = {}
        self.closer: AsyncGenerator[None, None] | None = None
        # Lifespans running on this loop (usually 0 or 1; a test may run
        # several apps' lifespans on one loop).
        self.lifespans = 0
        # Shutdown has begun: the server is draining or sent lifespan.shutdown.
        # The health view answers 503 from here on.
        self.stopping = False
        # Closed for good: the last lifespan finished, or the loop is winding
        # down. A new lifespan on the loop reopens it.
        self.finished = False
        # Creating and closing clients is logged at INFO on a loop that ran a
        # lifespan (a server's worker), at DEBUG on the many short loops of
        # tests and async_to_sync.
        self.logged = logging.DEBUG


# An open client holds its loop strongly (session -> connector -> loop), so
# the weak key alone never drops an entry while a client is open. Closed
# entries keep no client, so they go when their loop is garbage-collected.
_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)
# Guards _states, _overrides and every state; several threads can each run a
# loop (async_to_sync, tests). Reentrant, so a factory may call get().
_lock = threading.RLock()
# The fast path of get(), plain dicts because a WeakKeyDictionary lookup
# costs several times more: each running loop's "default" client, and its
# visible clients by name. A loop's entries go when its clients close, so
# they keep no loop alive that its open clients did not already.
_defaults: dict[asyncio.AbstractEventLoop, Any] = {}
_visible: dict[asyncio.AbstractEventLoop, dict[str, Any]] = {}
_running_loop = asyncio.get_running_loop
# Test overrides (sessionhub.testing): name -> stack of (token, factory); the
# last one wins, and its token keeps the clients it builds apart from others.
_overrides: dict[str, list[tuple[int, Factory]]] = {}


def get(name: str | None = None) -> Any:
    """Return the client called ``name`` (``"default"`` if not given) for the running loop.

    The first call on a loop creates the client; later calls on the same loop
    return the same object. Unless its ``FACTORY`` says otherwise, the client
    is an ``aiohttp.ClientSession``. Call it from a coroutine (an async view, a
    task); do not close the client yourself, sessionhub does that.
    """
    # The fast path: two dict lookups, as cheap as sessionhub can make it.
    try:
        if name is None:
            return _defaults[_running_loop()]
        return _visible[_running_loop()][name]
    except KeyError:
        pass
    except RuntimeError:
        name = "default" if name is None else name
        raise NoRunningLoopError(
            f"sessionhub.get({name!r}) needs a running event loop, and none is running in "
            f"thread {threading.current_thread().name!r}. Call it from async code (an async "
            "def view, or a coroutine run by asyncio.run()), not from a sync view or at "
            "import time."
        ) from None
    return _get_slow(_running_loop(), "default" if name is None else name)


def _get_slow(loop: asyncio.AbstractEventLoop, name: str) -> Any:
    with _lock:
        state = _states.get(loop)
        if state is None:
            _forget_closed_loops()
            state = _states[loop] = _LoopState()
        # asyncio sets this flag when shutdown_asyncgens() starts: a closer
        # parked after that would never run. (uvloop has no such flag.)
        if state.finished or getattr(loop, "_asyncgens_shutdown_called", False):
            raise LifespanFinishedError(
                f"sessionhub.get({name!r}) was called on event loop {_loop_name(loop)} after "
                "its clients were closed, because its ASGI lifespan finished or the loop is "
                "shutting down. Make upstream calls before that: in a request, or in a "
                "lifespan_finished receiver."
            )
        stack = _overrides.get(name)
        token, factory = stack[-1] if stack else (0, None)
        client = state.clients.get((name, token))
        if client is None:
            # Park the closer first: if that fails, no client exists to leak.
            if state.closer is None:
                state.closer = _park_closer(state)
            client = state.clients[(name, token)] = _build(name, factory, loop, state.logged)
        state.visible[name] = client
        _visible[loop] = state.visible
        if name == "default":
            _defaults[loop] = client
    return client


def _build(name: str, factory: Factory | None, loop: asyncio.AbstractEventLoop, level: int) -> Any:
    try:
        config = conf.client_config(name)
    except KeyError:
        if factory is None:
            raise UnknownClientError(
                f"sessionhub.get({name!r}): there is no client named {name!r}; the "
                f"configured clients are {', '.join(map(repr, conf.client_names())) or 'none'}. "
                "Add it to the SESSIONHUB setting, or fix the name."
            ) from None
        config = conf.ClientConfig(name=name)  # an override needs no configured client
    if factory is None:
        factory = import_string(config.factory)
    client = factory(config)
    if not callable(getattr(client, "aclose", None)) and not callable(
        getattr(client, "close", None)
    ):
        raise TypeError(
            f"the factory of sessionhub client {name!r} returned {client!r}, which has neither "
            "aclose() nor close(), so sessionhub could never close it."
        )
    logger.log(
        level,
        "created client %r (%s) (pid %d, loop %s)",
        name,
        _type_name(client),
        os.getpid(),
        _loop_name(loop),
    )
    return client


def _forget_closed_loops() -> None:
    """Drop entries of loops that were closed without ``shutdown_asyncgens()``.

    Their clients cannot be closed any more (closing needs the loop); say so,
    and stop keeping them and their loops alive. Call with ``_lock`` held.
    """
    for loop, state in list(_states.items()):
        if loop.is_closed():
            del _states[loop]
            _forget_fast_path(loop)
            if state.clients:
                logger.warning(
                    "event loop %s was closed without loop.shutdown_asyncgens(), so its "
                    "clients %s could not be closed (pid %d). Run async code with "
                    "asyncio.run() or asyncio.Runner, which wind loops down properly.",
                    _loop_name(loop),
                    ", ".join(sorted({repr(name) for name, _ in state.clients})),
                    os.getpid(),
                )


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


async def _close_state(state: _LoopState) -> int:
    """Close every client of ``state``; return how many closed cleanly."""
    loop = asyncio.get_running_loop()
    with _lock:
        clients, state.clients, state.closer = state.clients, {}, None
        state.visible.clear()
        _forget_fast_path(loop)
        # At loop end this also refuses new clients from here on: one opened
        # now would never be closed.
        state.finished = True
    if not clients:
        return 0
    # Note each client's connections now: closing forgets them, and they are
    # what must be aborted if closing hangs.
    jobs = {
        asyncio.ensure_future(_close_client(name, client, loop, state.logged)): (
            name,
            _transports(client),
        )
        for (name, _), client in clients.items()
    }
    bound = conf.close_timeout()
    done, pending = await asyncio.wait(jobs, timeout=bound)
    if pending:
        # Closing has already asked them to close (is_closing() is true): they
        # wait to flush data that the upstream does not read.
        transports = [t for task in pending for t in jobs[task][1]]
        logger.warning(
            "closing client(s) %s took longer than SESSIONHUB_CLOSE_TIMEOUT (%s s); aborting "
            "its %d connection(s) (pid %d, loop %s)",
            ", ".join(sorted(repr(jobs[task][0]) for task in pending)),
            bound,
            len(transports),
            os.getpid(),
            _loop_name(loop),
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
            await asyncio.wait(pending)
    return sum(task.result() for task in done)


class _Transport(Protocol):
    # asyncio's transports and uvloop's (which are not asyncio.Transport).
    def abort(self) -> None: ...
    def get_extra_info(self, name: str) -> Any: ...


def _reset(transport: _Transport) -> None:
    """Abort a connection with a TCP reset, dropping what it still had to send.

    A plain abort closes the socket, and the kernel would go on trying to send
    the unsent data to the upstream that does not read it.
    """
    linger = struct.pack("ii", 1, 0)
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no socket
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    transport.abort()


def _transports(client: Any) -> list[_Transport]:
    """The open connections of an aiohttp session (none known for other clients).

    aiohttp has no public list of them; read its connector's pools defensively.
    """
    connector = getattr(client, "connector", None)
    if not isinstance(connector, aiohttp.BaseConnector):
        return []
    protocols = [proto for pool in getattr(connector, "_conns", {}).values() for proto, _ in pool]
    protocols += list(getattr(connector, "_acquired", ()))
    transports: list[Any] = [getattr(proto, "transport", None) for proto in protocols]
    return [t for t in transports if callable(getattr(t, "abort", None))]


async def _close_client(
    name: str, client: Any, loop: asyncio.AbstractEventLoop, level: int
) -> bool:
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
            _type_name(client),
            os.getpid(),
            _loop_name(loop),
        )
        return False
    logger.log(
        level,
        "closed client %r (%s) in %.1f ms (pid %d, loop %s)",
        name,
        _type_name(client),
        (time.perf_counter() - started) * 1000,
        os.getpid(),
        _loop_name(loop),
    )
    return True


def _start_lifespan() -> None:
    """Note a lifespan starting on the running loop (which reopens a finished loop)."""
    loop = asyncio.get_running_loop()
    with _lock:
        state = _states.setdefault(loop, _LoopState())
        state.lifespans += 1
        state.finished = state.stopping = False
        state.logged = logging.INFO


def _begin_shutdown() -> None:
    """Note that the server on the running loop has begun to shut down."""
    loop = asyncio.get_running_loop()
    with _lock:
        state = _states.get(loop)
        if state is not None and not state.stopping:
            state.stopping = True
            logger.info("shutdown begun (pid %d, loop %s)", os.getpid(), _loop_name(loop))


def _serving() -> bool:
    """Whether a lifespan runs on the running loop and its shutdown has not begun."""
    state = _states.get(asyncio.get_running_loop())
    return state is not None and state.lifespans > 0 and not state.stopping


def _clients() -> dict[str, Any]:
    """The configured clients built on the running loop, by name."""
    state = _states.get(asyncio.get_running_loop())
    if state is None:
        return {}
    return {name: client for (name, token), client in state.clients.items() if token == 0}


async def _end_lifespan() -> int:
    """Note a lifespan ending on the running loop; return how many clients it closed.

    When the last lifespan on the loop ends, its clients are closed, and later
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
    closed = await _close_state(state)
    # Retire the parked closer too; its own close finds nothing left to do.
    await closer.aclose()
    return closed


async def open_on_startup(**kwargs: object) -> None:
    """``lifespan_started`` receiver: create every configured client before the first request."""
    for name in conf.client_names():
        get(name)


def _push_override(name: str, factory: Factory) -> int:
    """Make ``get(name)`` build clients with ``factory``; return a token for ``_pop_override``."""
    with _lock:
        token = next(_tokens)
        _overrides.setdefault(name, []).append((token, factory))
        _forget_visible(name)
    return token


def _pop_override(name: str, token: int) -> None:
    """Undo ``_push_override(name, ...)`` that returned ``token``."""
    with _lock:
        stack = _overrides[name]
        stack[:] = [entry for entry in stack if entry[0] != token]
        if not stack:
            del _overrides[name]
        _forget_visible(name)


def _forget_visible(name: str) -> None:
    for state in _states.values():
        state.visible.pop(name, None)
    if name == "default":
        _defaults.clear()


def _forget_fast_path(loop: asyncio.AbstractEventLoop) -> None:
    _defaults.pop(loop, None)
    _visible.pop(loop, None)


_tokens = itertools.count(1)


def _type_name(client: object) -> str:
    return f"{type(client).__module__}.{type(client).__qualname__}"


def _loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return f"{type(loop).__name__}@{id(loop):#x}"
