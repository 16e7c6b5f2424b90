"""Lifespan bookkeeping per loop: which lifespans run, when shutdown began, and their bounds.

Lifespans are counted per loop, so that two apps on one loop (or a test that
runs the lifespan again on a long-lived loop) work: the clients close when
the last one finishes, never earlier. What the loop does after that depends
on who ran the lifespan:

* a server (``loop_continues=False``): ``get()`` raises
  ``LifespanFinishedError`` until a new lifespan starts on the loop, because
  the server may end the process right away (uvicorn re-raises the signal it
  stopped on), and a client opened then would never be closed;
* a test or a script (``loop_continues=True``): the loop goes back to the
  state it had before any lifespan, and a later ``get()`` opens a client that
  is closed at the loop's end or when a next lifespan on it finishes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from sessionhub import closing, conf, registry

__all__ = [
    "begin_shutdown",
    "end",
    "fit_shutdown",
    "open_on_startup",
    "serving",
    "shutdown_timeout",
    "start",
    "startup_timeout",
]

logger = logging.getLogger("sessionhub")

# Set by sessionhub's gunicorn worker when SESSIONHUB_SHUTDOWN_TIMEOUT does
# not fit in gunicorn's graceful_timeout (see sessionhub.workers).
_shutdown_limit: float | None = None


def startup_timeout() -> float:
    """Seconds the lifespan startup may take (``SESSIONHUB_STARTUP_TIMEOUT``)."""
    return conf.startup_timeout()


def shutdown_timeout() -> float:
    """Seconds the lifespan shutdown may take before closing: the setting, or less."""
    bound = conf.shutdown_timeout()
    return bound if _shutdown_limit is None else min(bound, _shutdown_limit)


def fit_shutdown(shutdown: float | None, close: float | None) -> None:
    """Cap the shutdown and close bounds in this process (``None``: no cap)."""
    global _shutdown_limit
    _shutdown_limit = shutdown
    closing.limit_close_timeout(close)


def start() -> None:
    """Note a lifespan starting on the running loop (which reopens a finished loop)."""
    loop = asyncio.get_running_loop()
    with registry.lock:
        state = registry.state_of(loop)
        state.lifespans += 1
        state.refusing = None
        state.stopping = False
        state.level = logging.INFO
        # Park the closer now rather than at the first client: uvloop does not
        # tell when its shutdown_asyncgens() has begun, and a closer parked
        # after that would never run.
        registry.park(loop, state)


def begin_shutdown() -> None:
    """Note that the server on the running loop has begun to shut down."""
    loop = asyncio.get_running_loop()
    with registry.lock:
        state = registry.states.get(loop)
        if state is not None and not state.stopping:
            state.stopping = True
            logger.info("shutdown begun (pid %d, loop %s)", os.getpid(), registry.loop_name(loop))


def serving() -> bool:
    """Whether a lifespan runs on the running loop and its shutdown has not begun."""
    state = registry.states.get(asyncio.get_running_loop())
    return state is not None and state.lifespans > 0 and not state.stopping


async def end(*, loop_continues: bool) -> int:
    """Note a lifespan ending on the running loop; return how many clients it closed.

    The last lifespan on the loop to end closes its clients (see the module's
    docstring for what the loop does afterwards).
    """
    loop = asyncio.get_running_loop()
    with registry.lock:
        state = registry.state_of(loop)
        state.lifespans = max(0, state.lifespans - 1)
        if state.lifespans:
            return 0
    closed = await registry.close_all(loop, state, then=None if loop_continues else "finished")
    if loop_continues:
        state.stopping = False
    return closed


async def open_on_startup(**kwargs: Any) -> None:
    """``lifespan_started`` receiver: build every configured client before the first request."""
    for name in conf.client_names():
        registry.get(name)
