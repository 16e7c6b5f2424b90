"""Refusing at once the upstream calls that could not get a pooled connection in time.

A request that finds its client's pool full waits for a connection, on the
clock of its ``TIMEOUT``. When the pool is full because the upstream is slow or
hung, or because more is asked of it than it serves, most of those waits end in
a timeout that helps no one, and hold the worker's memory meanwhile. So, when
a request asks an aiohttp client's connector for a connection and the limit is
reached, sessionhub predicts its wait from what the pool does now: the
requests waiting ahead of it, the connections the limit allows, and how long a
request holds a connection (smoothed over the last ones, and never less than
the connections in use have been held so far: a hung upstream shows before any
call to it has ended). A request whose predicted wait is over half its
``TIMEOUT``, or whose wait plus its call would not fit in it, is refused with
``PoolOverloadedError``.
"""

from __future__ import annotations

import math

from sessionhub.errors import PoolOverloadedError

__all__ = ["PoolOverloadedError", "Queue", "check"]

# The longest predicted wait for a connection, as a share of TIMEOUT: a queue
# longer than needed to keep the pool busy adds latency, not answers.
QUEUE_SHARE = 0.5
# How much the last request's hold time moves the smoothed one.
HOLD_WEIGHT = 0.2


class Queue:
    """Requests holding a connection, and waiting for one, for one origin or a whole pool."""

    __slots__ = ("active", "hold", "since", "waiting")

    def __init__(self) -> None:
        self.active = self.waiting = 0
        # The sum of the times the active requests got their connections.
        self.since = 0.0
        # Seconds a request holds a connection, smoothed (0: none seen yet).
        self.hold = 0.0

    def acquire(self, now: float) -> None:
        """A request got a connection at ``now``."""
        self.active += 1
        self.since += now

    def release(self, now: float, acquired: float) -> None:
        """A request that got its connection at ``acquired`` gave it back at ``now``."""
        self.active -= 1
        self.since = self.since - acquired if self.active else 0.0
        held = now - acquired
        self.hold = held if not self.hold else self.hold + HOLD_WEIGHT * (held - self.hold)

    def held_for(self, now: float) -> float:
        """How long the connections in use have been held, on average."""
        return (self.active * now - self.since) / self.active if self.active else 0.0

    def idle(self) -> bool:
        """Whether no request holds or waits for a connection."""
        return not self.active and not self.waiting


def check(
    client: str, origin: str, queue: Queue, capacity: int, timeout: float | None, now: float
) -> None:
    """Raise ``PoolOverloadedError`` if a request joining ``queue`` would wait too long.

    ``capacity`` is the limit that makes it wait (``LIMIT_PER_HOST`` or ``LIMIT``).
    """
    if timeout is None or not capacity:
        return
    hold = max(queue.hold, queue.held_for(now))
    wait = (queue.waiting + 1) * hold / capacity
    if wait <= timeout * QUEUE_SHARE and wait + hold <= timeout:
        return
    raise PoolOverloadedError(
        f"sessionhub client {client!r} refused a call to {origin} at once: "
        f"{queue.waiting} calls already wait for its {capacity} connections, each held about "
        f"{hold:.2g} s, so it would wait about {wait:.2g} s for one, more than its TIMEOUT "
        f"({timeout:g} s) allows. Answer it with 503 (sessionhub.admission.OverloadMiddleware "
        "does), and raise LIMIT_PER_HOST only if the upstream can serve more at once.",
        retry_after=max(1, math.ceil(min(hold, timeout))),
    )
