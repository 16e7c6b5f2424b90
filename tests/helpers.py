"""Small helpers shared by the tests."""

from __future__ import annotations

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


def open_sessions() -> list[aiohttp.ClientSession]:
    """Sessions the registry still holds open, on any loop."""
    return [state.session for state in list(hub._states.values()) if state.session is not None]
