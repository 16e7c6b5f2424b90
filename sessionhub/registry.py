"""The per-loop registry: the clients open on each event loop, its lifespans, and ``get()``.

This module is the one writer of the per-loop state; every other module asks
it, through the functions below. Each client belongs to the loop it was built
on and is closed on that loop, exactly once: when the last lifespan running
on the loop finishes, when the test override that built it ends, or when the
loop winds down (the closer parked on the loop, see ``closing.park``). After
its last lifespan a loop is as it was before any: ``get()`` builds again.

Thread safety. Several threads may each run a loop (``async_to_sync``, test
runners), so every change happens under ``lock``. ``get()``'s fast path reads
``defaults`` and ``visible`` without it. That is safe because (1) a single
dict lookup is atomic (the GIL; per-dict locks in free-threaded builds), (2)
an entry for a loop is only added by code running on that loop, and removed
(under the lock, with no ``await`` in between) before any of its clients is
closed, by code running on that loop as well, so a reader on that loop cannot
interleave with the removal, and (3) the one writer from another thread,
ending a test override, only hands the retired client to its loop to close,
so a reader that raced it still gets an open client.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from sessionhub import closing, compat, conf
from sessionhub.errors import (
    LifespanFinishedError,
    NoRunningLoopError,
    UnknownClientError,
    describe,
)

__all__ = ["OpenClient", "get", "open_clients"]

logger = logging.getLogger("sessionhub")

Factory = Callable[[conf.ClientConfig], Any]
Key = tuple[str, int]  # (name, override token); token 0 is the configured client


class LoopState:
    """What the registry keeps for one loop; never the loop itself (it is the weak key)."""

    __slots__ = (
        "clients",
        "closer",
        "draining",
        "ending",
        "level",
        "lifespans",
        "pid",
        "retiring",
        "stopping",
        "tasks",
        "visible",
    )

    def __init__(self) -> None:
        self.clients: dict[Key, Any] = {}  # every open client built on the loop
        self.visible: dict[str, Any] = {}  # what get(name) returns: the fast path holds it
        self.retiring: dict[Key, Any] = {}  # clients of ended overrides, to close
        self.tasks: set[asyncio.Task[int]] = set()  # closes of retired clients under way
        self.closer: object | None = None
        self.lifespans = 0  # running on the loop
        self.stopping = 0  # of those, how many have begun to shut down
        self.draining = False  # the server as a whole has begun to stop (the worker's drain)
        self.ending = False  # the loop winds down: it takes no new client, for good
        # Clients are logged at INFO on a loop that ran a lifespan (a worker),
        # at DEBUG on the many short loops of tests and async_to_sync.
        self.level = logging.DEBUG
        self.pid = os.getpid()  # a forked child never closes what its parent built


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
_tokens = itertools.count(1)
# What a forked child inherited: kept referenced, never used, closed or
# garbage-collected (which would warn about clients it must not close).
inherited: list[tuple[dict[Any, Any], ...]] = []
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
        raise NoRunningLoopError(
            f"sessionhub.get({'default' if name is None else name!r}) needs a running event "
            f"loop, and none is running in thread {threading.current_thread().name!r}. Call it "
            "from async code (an async def view, or a coroutine run by asyncio.run()), not "
            "from a sync view or at import time."
        ) from None
    return _get_slow(_running_loop(), "default" if name is None else name)


def _get_slow(loop: asyncio.AbstractEventLoop, name: str) -> Any:
    with lock:
        state = _state(loop)
        # With a closer parked, a client built now is closed with the others,
        # whenever the loop ends; without one, one parked while the loop
        # shuts down would never run. uvloop cannot say so for sure: its
        # answer refuses this one call and is never kept.
        if state.ending or (state.closer is None and compat.loop_shutting_down(loop)):
            raise LifespanFinishedError(
                f"sessionhub.get({name!r}) was called on event loop {loop_name(loop)} while it "
                "winds down, and a client opened now could never be closed. Make upstream "
                "calls before the loop ends."
            )
        stack = overrides.get(name)
        token, factory = stack[-1] if stack else (0, None)
        client = state.clients.get((name, token))
        if client is None:
            _park(loop, state)
            client = _build(name, factory, loop, state.level)
            state.clients[(name, token)] = client
        state.visible[name] = client
        visible[loop] = state.visible
        if name == "default":
            defaults[loop] = client
    return client


def _build(name: str, factory: Factory | None, loop: asyncio.AbstractEventLoop, level: int) -> Any:
    """Build client ``name`` with ``factory`` (a test override's), or else its ``FACTORY``."""
    try:
        config = conf.client_config(name)
    except KeyError:
        if factory is None:
            raise UnknownClientError(
                f"sessionhub.get({name!r}): there is no client named {name!r}; the configured "
                f"clients are {', '.join(map(repr, conf.client_names())) or 'none'}. Add it to "
                "the SESSIONHUB setting, or fix the name."
            ) from None
        config = conf.ClientConfig(name=name)  # an override needs no configured client
    client = (factory or import_string(config.factory))(config)
    kind = describe(type(client))
    if not any(callable(getattr(client, method, None)) for method in ("aclose", "close")):
        raise TypeError(
            f"the factory of sessionhub client {name!r} returned a {kind}, which has neither "
            "aclose() nor close(), so sessionhub could never close it."
        )
    logger.log(
        level, "created client %r (%s) (pid %d, loop %s)", name, kind, os.getpid(), loop_name(loop)
    )
    return client


def _state(loop: asyncio.AbstractEventLoop) -> LoopState:
    """The state of ``loop``, created if needed. Call with ``lock`` held."""
    state = states.get(loop)
    if state is None:
        _forget_closed_loops()
        state = states[loop] = LoopState()
    return state


def _park(loop: asyncio.AbstractEventLoop, state: LoopState) -> None:
    """Park the closer of ``loop`` once; call on ``loop``, with ``lock`` held."""
    if state.closer is None:
        state.closer = closing.park(functools.partial(_close_all, loop, state, ending=True))


# The lifespans of a loop.


def lifespan_begins() -> None:
    """A lifespan starts on the running loop."""
    loop = asyncio.get_running_loop()
    with lock:
        state = _state(loop)
        state.lifespans += 1
        state.level = logging.INFO
        # Park the closer now rather than at the first client: uvloop does not
        # tell when its shutdown_asyncgens() has begun, and a closer parked
        # after that would never run.
        _park(loop, state)


def shutdown_begins(*, server: bool = False) -> None:
    """A lifespan on the running loop begins to shut down (``server``: the whole server does)."""
    loop = asyncio.get_running_loop()
    with lock:
        state = states.get(loop)
        if state is None or state.draining:
            return
        if server:
            state.draining = True
        else:
            state.stopping += 1
        if not serving():
            logger.info("shutdown begun (pid %d, loop %s)", os.getpid(), loop_name(loop))


def serving() -> bool:
    """False once every lifespan on the running loop, or its server, has begun to shut down."""
    state = states.get(asyncio.get_running_loop())
    if state is None or not (state.draining or state.stopping):
        return True
    return not state.draining and state.stopping < state.lifespans


async def lifespan_ends(*, stopped: bool, deadline: float) -> int:
    """A lifespan on the running loop ends (``stopped``: it had begun to shut down).

    The last one closes the loop's clients by ``deadline`` (loop time) and
    returns how many closed; the loop is then as it was before any lifespan.
    """
    loop = asyncio.get_running_loop()
    with lock:
        state = _state(loop)
        state.lifespans -= 1
        state.stopping -= stopped
        if state.lifespans:
            return 0
        state.draining = False
    return await _close_all(loop, state, ending=False, deadline=deadline)


async def _close_all(
    loop: asyncio.AbstractEventLoop,
    state: LoopState,
    *,
    ending: bool,
    deadline: float | None = None,
) -> int:
    """Close every client of ``state`` on ``loop``, the running loop (``ending``: for good)."""
    if state.pid != os.getpid():
        return 0
    if deadline is None:
        deadline = loop.time() + conf.close_timeout()
    with lock:
        clients = [*state.clients.items(), *state.retiring.items()]
        tasks = set(state.tasks)
        state.clients, state.retiring = {}, {}
        state.visible.clear()
        _forget_fast_path(loop)
        if ending:
            # The finished closer holds the loop (its asyncgen finalizer), and
            # the loop is this entry's weak key: let both go.
            state.ending, state.closer = True, None
    if tasks:  # retired clients being closed: their closes share the deadline
        await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
    named = [(name, client) for (name, _), client in clients]
    return await closing.close_clients(named, loop_name(loop), state.level, deadline)


# Test overrides.


def push_override(name: str, factory: Factory) -> int:
    """Make ``get(name)`` build clients with ``factory``; return a token for ``pop_override()``."""
    with lock:
        token = next(_tokens)
        overrides.setdefault(name, []).append((token, factory))
        _forget_name(name)
    return token


def pop_override(name: str, token: int) -> None:
    """End an override and close what it built, each client on its own loop.

    At once if that loop runs in this thread, else as soon as it runs again,
    at the latest when it winds down.
    """
    with lock:
        stack = overrides[name]
        stack[:] = [entry for entry in stack if entry[0] != token]
        if not stack:
            del overrides[name]
        _forget_name(name)
        for loop, state in list(states.items()):
            client = state.clients.pop((name, token), None)
            if client is not None:
                state.retiring[(name, token)] = client
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_retire, loop, state)


def _retire(loop: asyncio.AbstractEventLoop, state: LoopState) -> None:
    # On the loop. Until the task has taken them, the clients stay in
    # state.retiring, where the loop's end finds them if the task never runs.
    task = loop.create_task(_close_retiring(loop, state))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _close_retiring(loop: asyncio.AbstractEventLoop, state: LoopState) -> int:
    with lock:
        retiring, state.retiring = state.retiring, {}
    named = [(name, client) for (name, _), client in retiring.items()]
    deadline = loop.time() + conf.close_timeout()
    return await closing.close_clients(named, loop_name(loop), state.level, deadline)


def _forget_name(name: str) -> None:
    for state in states.values():
        state.visible.pop(name, None)
    if name == "default":
        defaults.clear()


# What is open.


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
            for retiring, held in ((False, state.clients), (True, state.retiring))
            for (name, token), client in held.items()
        ]


def clients_of(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """What ``get(name)`` returns on ``loop`` for each name built there."""
    state = states.get(loop)
    return {} if state is None else dict(state.visible)


def _forget_fast_path(loop: asyncio.AbstractEventLoop) -> None:
    defaults.pop(loop, None)
    visible.pop(loop, None)


def _forget_closed_loops() -> None:
    """Drop loops closed without ``shutdown_asyncgens()``; their clients cannot be closed."""
    for loop, state in list(states.items()):
        if loop.is_closed():
            del states[loop]
            _forget_fast_path(loop)
            names = {name for name, _ in [*state.clients, *state.retiring]}
            if names:
                logger.warning(
                    "event loop %s was closed without loop.shutdown_asyncgens(), so its "
                    "clients %s could not be closed (pid %d). Run async code with "
                    "asyncio.run() or asyncio.Runner, which wind loops down properly.",
                    loop_name(loop),
                    ", ".join(sorted(map(repr, names))),
                    os.getpid(),
                )


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
    before=lambda: lock.acquire(),
    after_in_parent=lambda: lock.release(),
    after_in_child=_after_fork_in_child,
)


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """How log lines name a loop: its type and id."""
    return f"{type(loop).__name__}@{id(loop):#x}"
