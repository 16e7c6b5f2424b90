"""The lifespans of each loop: how many run, how many began to stop, and whether it serves.

Counted per loop, so that two applications on one loop (or nested test
lifespans) share the loop's clients until the last one ends, and the health
view answers 200 until every one (or the server as a whole) began to stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from dataclasses import dataclass

from sessionhub.errors import loop_name

__all__ = ["begin", "begin_shutdown", "end", "serving"]

logger = logging.getLogger("sessionhub")


@dataclass(slots=True)
class _Lifespans:
    running: int = 0
    stopping: int = 0  # of those, how many began to stop
    draining: bool = False  # the server as a whole began to stop (the worker's drain)

    def serving(self) -> bool:
        return not self.draining and (not self.stopping or self.stopping < self.running)


# Written only from the loop itself, so no lock is needed.
_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lifespans] = (
    weakref.WeakKeyDictionary()
)


def begin() -> None:
    """A lifespan starts on the running loop."""
    _loops.setdefault(asyncio.get_running_loop(), _Lifespans()).running += 1


def begin_shutdown(*, server: bool = False) -> None:
    """A lifespan on the running loop begins to stop (``server``: the whole server does)."""
    loop = asyncio.get_running_loop()
    lifespans = _loops.setdefault(loop, _Lifespans())
    was_serving = lifespans.serving()
    if server:
        lifespans.draining = True
    else:
        lifespans.stopping += 1
    if was_serving and not lifespans.serving():
        logger.info("shutdown begun (pid %d, loop %s)", os.getpid(), loop_name(loop))


def serving() -> bool:
    """False once every lifespan on the running loop, or its server, began to stop."""
    lifespans = _loops.get(asyncio.get_running_loop())
    return lifespans is None or lifespans.serving()


def end(*, stopped: bool) -> bool:
    """A lifespan on the running loop ends (``stopped``: it had begun to stop); the last?

    After the last one the loop is as it was before any lifespan.
    """
    loop = asyncio.get_running_loop()
    lifespans = _loops[loop]
    lifespans.running -= 1
    lifespans.stopping -= stopped
    if lifespans.running:
        return False
    del _loops[loop]
    return True
