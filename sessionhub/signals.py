"""The lifespan signals.

Both are sent by ``sessionhub.asgi.LifespanASGIHandler`` with
``sender=<the handler class>`` and two keyword arguments:

``scope``
    The ASGI lifespan scope, as the server passed it.
``state``
    ``scope["state"]`` when the server provides one (uvicorn, hypercorn and
    granian do), else ``None``. Servers copy it into every request scope, so a
    receiver can leave things there for views (``request.scope["state"]``).

Sync and async receivers both work: they are called through
``Signal.asend_robust``, which runs the sync ones in a thread and the async
ones concurrently on the worker's event loop.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["lifespan_finished", "lifespan_started"]

#: Sent once per worker when the server starts it, before it takes requests.
#: If a receiver raises, the server is told ``lifespan.startup.failed``.
lifespan_started = Signal()

#: Sent once per worker when the server stops it, after the last request.
#: Every receiver runs even if another raises; then the sessions are closed.
lifespan_finished = Signal()
