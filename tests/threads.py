"""Run a test server's event loop in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from typing import Any

# serve(ready, stop): serves until ``stop`` is set; calls ``ready()`` once listening.
Serve = Callable[[Callable[[], None], asyncio.Event], Coroutine[Any, Any, None]]


@contextmanager
def loop_thread(name: str, serve: Serve) -> Iterator[asyncio.AbstractEventLoop]:
    """Run ``serve`` on a new loop in a thread for the block; stop it and wind it down after."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve(ready.set, stop))
        except BaseException as exc:  # surfaced by the main thread
            failure.append(exc)
            ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        if not ready.wait(10) or failure:
            raise RuntimeError(f"{name} did not start: {failure!r}")
        yield loop
    finally:
        with suppress(RuntimeError):  # the loop already stopped on its own
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive(), f"{name} thread did not stop"
