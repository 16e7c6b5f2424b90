"""The reference project with a receiver that misbehaves: HUNG=<signal>:<how>.

``<signal>`` is ``started`` or ``finished``; ``<how>`` is what the receiver
does, as real user code would:

- ``wait``: awaits an upstream that never answers (cancellable);
- ``thread``: awaits a call that never returns, in ``asyncio.to_thread`` and
  in ``sync_to_async`` (threads that the interpreter waits for at exit);
- ``swallow``: catches its cancellation and goes on waiting;
- ``block``: blocks the event loop with a synchronous call;
- ``exit``: raises ``SystemExit`` (an async receiver);
- ``sync-exit``: raises ``SystemExit`` (a sync receiver).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async

from config.asgi import application
from sessionhub.signals import lifespan_finished, lifespan_started

__all__ = ["application"]

_never = threading.Event()


async def wait_for_ever(**kwargs: Any) -> None:
    """An upstream that never answers."""
    await asyncio.Event().wait()


async def in_threads(**kwargs: Any) -> None:
    """A blocking client library's call that never returns, moved to threads."""
    await asyncio.gather(asyncio.to_thread(_never.wait), sync_to_async(_never.wait)())


async def swallow(**kwargs: Any) -> None:
    """A retry loop that catches everything, cancellation included."""
    while True:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            continue


async def block(**kwargs: Any) -> None:
    """A synchronous call made on the event loop."""
    time.sleep(3600)


async def exit_now(**kwargs: Any) -> None:
    raise SystemExit(0)


def sync_exit(**kwargs: Any) -> None:
    raise SystemExit(1)


RECEIVERS = {
    "wait": wait_for_ever,
    "thread": in_threads,
    "swallow": swallow,
    "block": block,
    "exit": exit_now,
    "sync-exit": sync_exit,
}
_when, _, _how = os.environ["HUNG"].partition(":")
{"started": lifespan_started, "finished": lifespan_finished}[_when].connect(
    RECEIVERS[_how or "wait"]
)
