"""Test overrides: swap the factory of a named client, and close what it built when it ends."""

from __future__ import annotations

import asyncio
import itertools

from sessionhub import closing, conf, registry
from sessionhub.errors import loop_name

__all__ = ["pop", "push"]

_tokens = itertools.count(1)


def push(name: str, factory: registry.Factory) -> int:
    """Make ``get(name)`` build clients with ``factory``; return a token for ``pop()``."""
    with registry.lock:
        token = next(_tokens)
        registry.overrides.setdefault(name, []).append((token, factory))
        registry.forget_name(name)
    return token


def pop(name: str, token: int) -> None:
    """End an override, and close what it built, each client on its own loop.

    At once if that loop runs in this thread, else as soon as it runs again,
    at the latest when it winds down.
    """
    with registry.lock:
        stack = registry.overrides[name]
        stack[:] = [entry for entry in stack if entry[0] != token]
        if not stack:
            del registry.overrides[name]
        registry.forget_name(name)
        for loop, state in list(registry.states.items()):
            if state.retire((name, token)) and not loop.is_closed():
                loop.call_soon_threadsafe(_retire, loop, state)


def _retire(loop: asyncio.AbstractEventLoop, state: registry.LoopState) -> None:
    # On the loop. Until the task takes them, the clients stay with the
    # state, where the loop's end finds them if the task never runs.
    state.track(loop.create_task(_close_retiring(loop, state)))


async def _close_retiring(loop: asyncio.AbstractEventLoop, state: registry.LoopState) -> int:
    with registry.lock:
        retiring = state.take_retiring()
    deadline = loop.time() + conf.close_timeout()
    return await closing.close_clients(retiring, loop_name(loop), state.level, deadline)
