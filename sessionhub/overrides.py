"""Test overrides: swap the factory of a named client, and close what it built when it ends."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from typing import Any

from sessionhub import closing, conf, registry

__all__ = ["pop", "push"]

_tokens = itertools.count(1)


def push(name: str, factory: Callable[[conf.ClientConfig], Any]) -> int:
    """Make ``get(name)`` build clients with ``factory``; return a token for ``pop()``."""
    with registry.lock:
        token = next(_tokens)
        registry.overrides.setdefault(name, []).append((token, factory))
        _forget_visible(name)
    return token


def pop(name: str, token: int) -> None:
    """End the override ``push(name, ...)`` returned ``token`` for, and close what it built.

    Each client it built is closed on its own loop: at once if that loop runs
    in this thread, else as soon as it runs again (at the latest when it
    winds down).
    """
    with registry.lock:
        stack = registry.overrides[name]
        stack[:] = [entry for entry in stack if entry[0] != token]
        if not stack:
            del registry.overrides[name]
        _forget_visible(name)
        for loop, state in list(registry.states.items()):
            key = (name, token)
            if key not in state.clients or state.pid != os.getpid():
                continue
            state.retiring[key] = state.clients.pop(key)
            if not loop.is_closed():
                loop.call_soon_threadsafe(_close_retired, loop, state)


def _close_retired(loop: asyncio.AbstractEventLoop, state: registry.LoopState) -> None:
    # Runs on the loop; the loop's end waits for the task (registry.close_all).
    task = loop.create_task(_close(loop, state))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _close(loop: asyncio.AbstractEventLoop, state: registry.LoopState) -> int:
    with registry.lock:
        retiring, state.retiring = state.retiring, {}
    if not retiring:  # the loop's end got there first
        return 0
    named = [(name, client) for (name, _), client in retiring.items()]
    return await closing.close_clients(named, registry.loop_name(loop), state.level)


def _forget_visible(name: str) -> None:
    for state in registry.states.values():
        state.visible.pop(name, None)
    if name == "default":
        registry.defaults.clear()
