"""The per-loop registry, the one writer of the clients' per-loop state, and ``get()``.

Each client belongs to the loop it was built on and is closed on that loop,
exactly once: when the last lifespan on the loop finishes, when the test
override that built it ends, or when the loop winds down (its parked closer).

Thread safety: every change happens under ``lock``. ``get()``'s fast path
reads ``defaults`` and ``visible`` without it, which is safe: a dict lookup is
atomic; a loop's entries are added, and removed before any of its clients is
closed, only by code on that loop with no ``await`` in between; and ending an
override from another thread only hands the client to its loop to close.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sessionhub import building, closing, compat, conf, options
from sessionhub.errors import (
    LifespanFinishedError,
    NoRunningLoopError,
    loop_name,
    see,
)

__all__ = ["get"]

logger = logging.getLogger("sessionhub")

Factory = Callable[[options.ClientConfig], Any]
Loop = asyncio.AbstractEventLoop
Key = tuple[str, int]  # (name, override token); token 0 is the configured client


@dataclass(eq=False, slots=True)
class LoopState:
    """What the registry keeps for one loop; never the loop itself (it is the weak key)."""

    clients: dict[Key, Any] = field(default_factory=dict)  # every open client of the loop
    visible: dict[str, Any] = field(default_factory=dict)  # get(name)'s: the fast path's dict
    retiring: dict[Key, Any] = field(default_factory=dict)  # of ended overrides, to close
    tasks: set[asyncio.Task[int]] = field(default_factory=set)  # closing retired clients
    closer: object | None = None
    ending: bool = False  # the loop winds down: no new client, for good
    # INFO on a loop that ran a lifespan (a worker), DEBUG on the short loops
    # of tests and async_to_sync.
    level: int = logging.DEBUG
    pid: int = field(default_factory=os.getpid)  # a forked child closes none of its parent's

    def retire(self, key: Key) -> bool:
        """Move the client ``key`` of an ended override to the ones to close; whether any."""
        if key not in self.clients:
            return False
        self.retiring[key] = self.clients.pop(key)
        return True

    def track(self, task: asyncio.Task[int]) -> None:
        """Keep ``task``, which closes retired clients, until it is done."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def take_retiring(self) -> list[tuple[str, Any]]:
        """The retired clients, (name, client), now in the caller's hands to close."""
        taken, self.retiring = self.retiring, {}
        return [(name, client) for (name, _), client in taken.items()]


# An open client holds its loop strongly (session -> connector -> loop), so the
# weak key drops no entry while a client is open.
states: weakref.WeakKeyDictionary[Loop, LoopState] = weakref.WeakKeyDictionary()
# Guards states, overrides and every LoopState. Reentrant: a factory may call get().
lock = threading.RLock()
# get()'s fast path (a WeakKeyDictionary lookup costs several times more): each
# loop's "default" client, and its visible clients by name.
defaults: dict[Loop, Any] = {}
visible: dict[Loop, dict[str, Any]] = {}
# Test overrides: name -> stack of (token, factory); the last one wins.
overrides: dict[str, list[tuple[int, Factory]]] = {}
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
            f"from a sync view or at import time. {see(NoRunningLoopError)}"
        ) from None
    return _get_slow(_running_loop(), "default" if name is None else name)


def _get_slow(loop: Loop, name: str) -> Any:
    with lock:
        state = state_of(loop)
        # With a closer parked, a client built now is closed with the others,
        # whenever the loop ends; without one, one parked while the loop
        # shuts down would never run. uvloop cannot say so for sure: its
        # answer refuses this one call and is never kept.
        if state.ending or (state.closer is None and compat.loop_shutting_down(loop)):
            raise LifespanFinishedError(
                f"sessionhub.get({name!r}) was called on event loop {loop_name(loop)} while it "
                "winds down, and a client opened now could never be closed. Make upstream "
                f"calls before the loop ends. {see(LifespanFinishedError)}"
            )
        stack = overrides.get(name)
        token, factory = stack[-1] if stack else (0, None)
        client = state.clients.get((name, token))
        if client is None:
            _park(loop, state)
            config = options.client_config(name, overridden=factory is not None)
            client = building.build(config, factory, loop_name(loop), state.level)
            state.clients[(name, token)] = client
        state.visible[name] = client
        visible[loop] = state.visible
        if name == "default":
            defaults[loop] = client
    return client


def state_of(loop: Loop) -> LoopState:
    """The state of ``loop``, created if needed. Call with ``lock`` held."""
    state = states.get(loop)
    if state is None:
        _forget_closed_loops()
        state = states[loop] = LoopState()
    return state


def _park(loop: Loop, state: LoopState) -> None:
    """Park the closer of ``loop`` once; call on ``loop``, with ``lock`` held."""
    if state.closer is None:
        state.closer = closing.park(functools.partial(_close_all, loop, state, ending=True))


def begin_lifespan() -> None:
    """A lifespan starts on the running loop: its clients are a worker's."""
    loop = asyncio.get_running_loop()
    with lock:
        state = state_of(loop)
        state.level = logging.INFO
        # Park the closer now rather than at the first client: uvloop does not
        # tell when its shutdown_asyncgens() has begun, and a closer parked
        # after that would never run.
        _park(loop, state)


async def close(deadline: float) -> int:
    """Close the running loop's clients by ``deadline`` (loop time); how many closed cleanly.

    The loop goes on as before it had any: a later ``get()`` builds again.
    """
    loop = asyncio.get_running_loop()
    with lock:
        state = state_of(loop)
    return await _close_all(loop, state, ending=False, deadline=deadline)


async def _close_all(loop: Loop, state: LoopState, *, ending: bool, deadline: float = 0) -> int:
    """Close every client of ``state`` on ``loop``, the running loop (``ending``: for good)."""
    if state.pid != os.getpid():  # clients of a parent process are left alone
        return 0
    deadline = deadline or loop.time() + conf.close_timeout()
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


def clients_of(loop: Loop) -> dict[str, Any]:
    """What ``get(name)`` returns on ``loop``, for each name built there."""
    state = states.get(loop)
    return {} if state is None else dict(state.visible)


def forget_name(name: str) -> None:
    """Make every loop look ``name`` up again (an override began or ended). Hold ``lock``."""
    for state in states.values():
        state.visible.pop(name, None)
    if name == "default":
        defaults.clear()


def _forget_fast_path(loop: Loop) -> None:
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
