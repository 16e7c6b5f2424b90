"""The per-loop registry: which clients are open on which event loop, and ``get()``.

Every client belongs to the loop it was built on and is closed on that loop,
exactly once: when the last lifespan on the loop finishes (``lifecycle``),
when a test override that built it ends (``overrides``), or when the loop
winds down (the closer that ``closing`` parks on every loop that has clients).

Thread safety. Several threads may each run a loop (``async_to_sync``, test
runners), so every change to the registry happens under ``lock``. ``get()``'s
fast path reads ``defaults`` and ``visible`` without the lock. That is safe
because (1) a single dict lookup is atomic (the GIL; per-dict locks in
free-threaded builds), (2) an entry for a loop is only added by code running
on that loop, and removed (under the lock, with no ``await`` in between)
before any of its clients is closed, by code running on that loop as well, so
a reader on that loop cannot interleave with the removal, and (3) the one
writer from another thread, ending a test override, only hands the retired
client to its loop to close, so a reader that raced it still gets an open
client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sessionhub import building, closing, compat
from sessionhub.errors import LifespanFinishedError, NoRunningLoopError

__all__ = ["OpenClient", "get", "open_clients"]

logger = logging.getLogger("sessionhub")

Factory = Callable[..., Any]
# Why a loop takes no new client: its server's lifespan finished ("finished"),
# or the loop is winding down ("ending"). None: it takes new clients.
Refusal = Literal["finished", "ending"] | None


class LoopState:
    """What the registry keeps for one loop; never the loop itself (it is the weak key)."""

    __slots__ = (
        "clients",
        "closer",
        "level",
        "lifespans",
        "pid",
        "refusing",
        "retiring",
        "stopping",
        "tasks",
        "visible",
    )

    def __init__(self) -> None:
        # Every open client built on the loop, keyed by (name, override token);
        # token 0 is the configured client.
        self.clients: dict[tuple[str, int], Any] = {}
        # What get(name) returns on the loop: the fast path holds this very dict.
        self.visible: dict[str, Any] = {}
        # Clients of ended overrides, waiting for their loop to close them.
        self.retiring: dict[tuple[str, int], Any] = {}
        # Tasks closing retired clients; the loop's end waits for them.
        self.tasks: set[asyncio.Task[int]] = set()
        self.closer: object | None = None
        self.lifespans = 0
        # The server on this loop has begun to shut down (the health view's 503).
        self.stopping = False
        self.refusing: Refusal = None
        # Clients are logged at INFO on a loop that ran a lifespan (a worker),
        # at DEBUG on the many short loops of tests and async_to_sync.
        self.level = logging.DEBUG
        # A forked child never closes or uses what its parent built.
        self.pid = os.getpid()


# An open client holds its loop strongly (session -> connector -> loop), so the
# weak key drops no entry while a client is open.
states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
    weakref.WeakKeyDictionary()
)
# Guards states, overrides and every LoopState. Reentrant: a factory may call get().
lock = threading.RLock()
# get()'s fast path (a WeakKeyDictionary lookup costs several times more): each
# loop's "default" client, and its visible clients by name.
defaults: dict[asyncio.AbstractEventLoop, Any] = {}
visible: dict[asyncio.AbstractEventLoop, dict[str, Any]] = {}
# Test overrides: name -> stack of (token, factory); the last one wins.
overrides: dict[str, list[tuple[int, Factory]]] = {}
# What a forked child inherited: kept referenced, never used, closed or
# garbage-collected (which would warn about clients it must not close).
inherited: list[
    tuple[
        dict[asyncio.AbstractEventLoop, LoopState],
        dict[asyncio.AbstractEventLoop, Any],
        dict[asyncio.AbstractEventLoop, dict[str, Any]],
    ]
] = []
_running_loop = asyncio.get_running_loop


def get(name: str | None = None) -> Any:
    """Return the client called ``name`` (``"default"`` if not given) for the running loop.

    The first call on a loop builds the client; later calls on the same loop
    return the same object. Unless its ``FACTORY`` says otherwise, the client
    is an ``aiohttp.ClientSession``. Call it from a coroutine (an async view, a
    task); do not close the client yourself, sessionhub does that.
    """
    try:
        if name is None:
            return defaults[_running_loop()]
        return visible[_running_loop()][name]
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
    with lock:
        state = state_of(loop)
        if state.refusing is None and compat.loop_shutting_down(loop):
            state.refusing = "ending"
        if state.refusing is not None:
            raise LifespanFinishedError(_refusal(name, loop, state.refusing))
        stack = overrides.get(name)
        token, factory = stack[-1] if stack else (0, None)
        client = state.clients.get((name, token))
        if client is None:
            park(loop, state)
            client = building.build(name, factory, loop_name(loop), state.level)
            state.clients[(name, token)] = client
        state.visible[name] = client
        visible[loop] = state.visible
        if name == "default":
            defaults[loop] = client
    return client


def _refusal(name: str, loop: asyncio.AbstractEventLoop, why: str) -> str:
    if why == "ending":
        because = "the loop is shutting down, and a client opened now could never be closed"
        fix = "Make upstream calls before the loop ends"
    else:
        because = (
            "the server's ASGI lifespan on it has finished, and the server may end the "
            "process without winding the loop down"
        )
        fix = "Make upstream calls in a request or in a lifespan_finished receiver"
    return (
        f"sessionhub.get({name!r}) was called on event loop {loop_name(loop)} after its "
        f"clients were closed: {because}. {fix}."
    )


def state_of(loop: asyncio.AbstractEventLoop) -> LoopState:
    """The registry's state for ``loop``, created if needed. Call with ``lock`` held."""
    state = states.get(loop)
    if state is None:
        _forget_closed_loops()
        state = states[loop] = LoopState()
    return state


def park(loop: asyncio.AbstractEventLoop, state: LoopState) -> None:
    """Park the closer that closes ``state``'s clients when ``loop`` winds down, once.

    Call with ``lock`` held, on ``loop``.
    """
    if state.closer is None:
        state.closer = closing.park(lambda: close_all(loop, state, then="ending"))


async def close_all(
    loop: asyncio.AbstractEventLoop, state: LoopState, *, then: Refusal, bound: float | None = None
) -> int:
    """Close every client of ``state`` on ``loop`` (the running loop); return how many closed.

    ``then`` is what the loop refuses afterwards (``None``: it takes new
    clients again). Clients of a parent process are left alone.
    """
    if state.pid != os.getpid():
        return 0
    with lock:
        clients = [*state.clients.items(), *state.retiring.items()]
        tasks = set(state.tasks)
        state.clients, state.retiring = {}, {}
        state.visible.clear()
        forget_fast_path(loop)
        state.refusing = then
        if then == "ending":
            # Drop the finished closer: it holds the loop (the loop's asyncgen
            # finalizer), and the loop is this entry's weak key.
            state.closer = None
    if tasks:  # retired clients already being closed: let them finish
        await asyncio.wait(tasks, timeout=closing.close_timeout())
    if not clients:
        return 0
    named = [(name, client) for (name, _), client in clients]
    return await closing.close_clients(named, loop_name(loop), state.level, bound)


def clients_of(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """What ``get(name)`` returns on ``loop`` for each name built there."""
    state = states.get(loop)
    return {} if state is None else dict(state.visible)


@dataclass(frozen=True)
class OpenClient:
    """One open client (see ``open_clients()``)."""

    name: str
    client: Any
    loop: asyncio.AbstractEventLoop
    #: Built by a test override (``sessionhub.testing.override_client``).
    override: bool
    #: Its override has ended, and its loop has yet to close it.
    retiring: bool


def open_clients() -> list[OpenClient]:
    """Every client sessionhub holds open in this process, on any loop.

    For tests (assert that none is left open) and for debugging a leak.
    """
    with lock:
        return [
            OpenClient(name, client, loop, token != 0, retiring)
            for loop, state in list(states.items())
            if state.pid == os.getpid()
            for retiring, held in ((False, state.clients), (True, state.retiring))
            for (name, token), client in held.items()
        ]


def forget_fast_path(loop: asyncio.AbstractEventLoop) -> None:
    """Drop ``loop``'s entries from ``get()``'s fast path. Call with ``lock`` held."""
    defaults.pop(loop, None)
    visible.pop(loop, None)


def _forget_closed_loops() -> None:
    """Drop loops closed without ``shutdown_asyncgens()``; their clients cannot be closed."""
    for loop, state in list(states.items()):
        if loop.is_closed():
            del states[loop]
            forget_fast_path(loop)
            if state.clients or state.retiring:
                names = {name for name, _ in [*state.clients, *state.retiring]}
                logger.warning(
                    "event loop %s was closed without loop.shutdown_asyncgens(), so its "
                    "clients %s could not be closed (pid %d). Run async code with "
                    "asyncio.run() or asyncio.Runner, which wind loops down properly.",
                    loop_name(loop),
                    ", ".join(sorted(map(repr, names))),
                    os.getpid(),
                )


def _before_fork() -> None:
    lock.acquire()


def _after_fork_in_parent() -> None:
    lock.release()


def _after_fork_in_child() -> None:
    # The child keeps what it inherited out of reach: those sockets are the
    # parent's, and closing (or finalizing) them here would break the parent.
    global lock
    inherited.append((dict(states), dict(defaults), dict(visible)))
    states.clear()
    defaults.clear()
    visible.clear()
    lock = threading.RLock()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """How log lines name a loop: its type and id."""
    return f"{type(loop).__name__}@{id(loop):#x}"
