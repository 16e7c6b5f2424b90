"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from django.dispatch import Signal

from sessionhub.testing import open_clients


@contextmanager
def connected(signal: Signal, receiver: Callable[..., Any]) -> Iterator[None]:
    """Connect ``receiver`` to ``signal`` for the block only."""
    signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        signal.disconnect(receiver)


def open_sessions() -> list[Any]:
    """Clients sessionhub still holds open, on any loop."""
    return [entry.client for entry in open_clients()]


def loop_session(name: str = "default") -> aiohttp.ClientSession | None:
    """The configured client ``name`` sessionhub holds open for the running loop."""
    loop = asyncio.get_running_loop()
    for entry in open_clients():
        if entry.loop is loop and entry.name == name and not entry.override:
            client: aiohttp.ClientSession = entry.client
            return client
    return None
