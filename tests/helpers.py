"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from django.dispatch import Signal

from sessionhub import hub


@contextmanager
def connected(signal: Signal, receiver: Callable[..., Any]) -> Iterator[None]:
    """Connect ``receiver`` to ``signal`` for the block only."""
    signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        signal.disconnect(receiver)


def open_sessions() -> list[Any]:
    """Clients the registry still holds open, on any loop."""
    return [client for state in list(hub._states.values()) for client in state.clients.values()]


def loop_session(name: str = "default") -> aiohttp.ClientSession | None:
    """The configured client ``name`` the registry holds for the running loop."""
    state = hub._states.get(asyncio.get_running_loop())
    return None if state is None else state.clients.get((name, 0))
