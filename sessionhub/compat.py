"""Every place sessionhub reads another library's internals, each guarded.

Each function here reads something that library does not offer publicly. Each
was checked against the versions named in its comment, falls back to a safe
answer when the shape is not what it expects (an unknown count is ``None``;
nothing here raises), and has a test in ``tests/test_compat.py`` that fails
when the shape changes, so that an upgrade is noticed by the suite, not in
production.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from django.dispatch import Signal

__all__ = [
    "Transport",
    "live_receivers",
    "loop_shutting_down",
    "open_transports",
]

logger = logging.getLogger("sessionhub")

Receiver = Callable[..., Any]


class Transport(Protocol):
    """What closing needs of a connection's transport (asyncio's and uvloop's)."""

    def abort(self) -> None: ...
    def get_extra_info(self, name: str) -> Any: ...


def live_receivers(signal: Signal, sender: object) -> tuple[list[Receiver], list[Receiver]] | None:
    """The receivers ``signal.send(sender)`` would call: ``(sync ones, async ones)``.

    Django has no public list of them; ``Signal._live_receivers`` returns this
    pair in Django 5.0 to 6.1 (checked: 5.2, 6.0, 6.1). ``None`` when its shape
    differs, and the caller then sends the signal as a whole.
    """
    method = getattr(signal, "_live_receivers", None)
    try:
        found = method(sender) if callable(method) else None
    except Exception:  # noqa: BLE001 - any failure here means "shape unknown"
        found = None
    if (
        isinstance(found, tuple)
        and len(found) == 2
        and all(isinstance(group, list) and all(map(callable, group)) for group in found)
    ):
        return found[0], found[1]
    logger.debug("Django's Signal._live_receivers has an unknown shape; sending as a whole")
    return None


def loop_shutting_down(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop.shutdown_asyncgens()`` has begun, as far as can be known.

    asyncio sets ``_asyncgens_shutdown_called`` (checked: CPython 3.11 to
    3.13). uvloop keeps its flag out of Python's reach; there, a call made
    from inside an async generator that ``shutdown_asyncgens()`` is closing
    is recognized by its task, which runs the generator's ``aclose()``
    awaitable itself (an ``async_generator_athrow``; checked: CPython 3.11 to
    3.13 with uvloop 0.23). A generator finalized by the garbage collector
    runs in such a task too: it is taken for a loop shutting down, which
    refuses a client that might not be closed, never the other way round.
    """
    flag = getattr(loop, "_asyncgens_shutdown_called", None)
    if isinstance(flag, bool):
        return flag
    task = asyncio.current_task(loop)
    coro = task.get_coro() if task is not None else None
    return type(coro).__name__ == "async_generator_athrow"


def open_transports(client: Any) -> list[Transport]:
    """The transports of an aiohttp session's open connections (``[]`` if unknown).

    Read before closing, so that a close that hangs can abort them. aiohttp
    keeps them in ``BaseConnector._conns`` (``{key: [(protocol, t), ...]}``)
    and ``_acquired`` (a set of protocols), checked 3.12 to 3.14.
    """
    try:
        connector = getattr(client, "connector", None)
        if connector is None:
            return []
        protocols: list[Any] = [entry[0] for pool in connector._conns.values() for entry in pool]
        protocols += list(connector._acquired)
        transports: Sequence[Any] = [getattr(proto, "transport", None) for proto in protocols]
        return [t for t in transports if callable(getattr(t, "abort", None))]
    except Exception:  # noqa: BLE001 - closing goes on without the abort fallback
        logger.debug("aiohttp's connector has an unknown shape; cannot list its connections")
        return []
