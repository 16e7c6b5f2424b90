"""A gunicorn worker class: uvicorn-worker's, with a drain and a shutdown that fit gunicorn's.

``worker_class = "sessionhub.workers.UvicornWorker"`` (needs the ``deploy``
extra). It is ``uvicorn_worker.UvicornWorker`` configured through its public
surface (``load_wsgi()``, which gunicorn calls once the application is
loaded, and the uvicorn ``Config`` it keeps as ``self.config``); it copies
none of uvicorn-worker's code. On SIGTERM the worker

1. keeps serving for ``SESSIONHUB_DRAIN_SECONDS`` (default 0) with the health
   view at 503, so that load balancers stop sending it traffic;
2. stops accepting and waits for the requests in flight, for what gunicorn's
   ``graceful_timeout`` leaves after the other steps and a margin (uvicorn
   alone would wait without a limit, and gunicorn SIGKILLs a worker still
   busy at ``graceful_timeout``);
3. runs the lifespan shutdown: ``lifespan_finished`` receivers within
   ``SESSIONHUB_SHUTDOWN_TIMEOUT``, then the clients closed within
   ``SESSIONHUB_CLOSE_TIMEOUT``.

It bounds the HTTP requests in flight, not connections (``sessionhub.admission``;
gunicorn's ``worker_connections`` is not passed on to uvicorn, which would count
idle connections), and closes connections that send no request (``sessionhub.idle``).

Where those settings do not fit in ``graceful_timeout``, the worker scales
them down to fit, and says so once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker as _UvicornWorker

from sessionhub import admission, conf, idle, lifecycle

__all__ = ["Budget", "UvicornWorker", "plan"]

logger = logging.getLogger("sessionhub")

# Seconds of graceful_timeout kept for the process to exit.
MARGIN = 1.0
# The least time requests in flight get to finish.
REQUESTS_AT_LEAST = 1.0
_DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Budget:
    """How a worker splits gunicorn's ``graceful_timeout`` between the steps of its shutdown."""

    drain: float
    requests: float
    shutdown: float
    close: float
    #: The settings did not fit and were scaled down.
    shrunk: bool


def plan(graceful: float, drain: float, shutdown: float, close: float) -> Budget:
    """Split ``graceful`` seconds into drain, requests in flight, shutdown and close.

    Requests get what the settings leave after ``MARGIN``. If that is less
    than ``REQUESTS_AT_LEAST``, drain, shutdown and close are scaled down by
    one factor so that it is not.
    """
    room = graceful - MARGIN - REQUESTS_AT_LEAST
    wanted = drain + shutdown + close
    if wanted <= room:
        return Budget(drain, graceful - MARGIN - wanted, shutdown, close, shrunk=False)
    factor = max(room, 0.0) / wanted
    return Budget(
        drain * factor, REQUESTS_AT_LEAST, shutdown * factor, close * factor, shrunk=True
    )


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]
    """``uvicorn_worker.UvicornWorker`` that drains, and bounds its shutdown by gunicorn's."""

    def load_wsgi(self) -> None:
        """Load the application (gunicorn's step), then fit the shutdown into gunicorn's."""
        super().load_wsgi()
        # Django is set up now, so its settings can be read.
        problems = conf.shutdown_problems()
        if problems:
            for check_id, message, hint in problems:
                logger.error("%s %s (%s) (pid %d)", message, hint, check_id, os.getpid())
            # gunicorn halts on this code instead of booting workers in a loop.
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        drain, shutdown, close = (
            conf.drain_seconds(),
            conf.shutdown_timeout(),
            conf.close_timeout(),
        )
        graceful = float(self.cfg.graceful_timeout)
        budget = plan(graceful, drain, shutdown, close)
        if budget.shrunk:
            logger.warning(
                "gunicorn's graceful_timeout (%g s) cannot hold SESSIONHUB_DRAIN_SECONDS (%g s), "
                "%g s for requests in flight, SESSIONHUB_SHUTDOWN_TIMEOUT (%g s), "
                "SESSIONHUB_CLOSE_TIMEOUT (%g s) and %g s of margin; this worker uses "
                "%.1f s, %.1f s, %.1f s and %.1f s instead. Raise graceful_timeout or lower "
                "the settings (pid %d)",
                graceful,
                drain,
                REQUESTS_AT_LEAST,
                shutdown,
                close,
                MARGIN,
                budget.drain,
                budget.requests,
                budget.shutdown,
                budget.close,
                os.getpid(),
            )
        self.config.timeout_graceful_shutdown = budget.requests
        # Overload (README): requests in flight are bounded, not connections.
        idle.bound(self.config, self.cfg.keepalive)
        lifecycle.fit_shutdown(budget.shutdown, budget.close)
        self.wsgi = _Draining(admission.wrap(self.wsgi), budget.drain)  # type: ignore[has-type]


_ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class _Draining:
    """The application, plus a drain once uvicorn is serving.

    uvicorn answers SIGTERM by closing its sockets at once, and offers no hook
    before that. Once startup is complete (uvicorn's signal handlers are
    installed by then), this puts a handler in front of uvicorn's that
    begins shutdown (the health view's 503 from the first moment) and hands
    the signal on to uvicorn ``drain`` seconds later (0: at once). A second
    signal is handed on at once.
    """

    def __init__(self, app: _ASGIApp, drain: float) -> None:
        self.app = app  # where sessionhub.W001 looks through wrappers
        self.drain = drain

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def sending(message: Mapping[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._install()
            await send(message)

        return await self.app(scope, receive, sending)

    def _install(self) -> None:
        loop = asyncio.get_running_loop()
        handed_on: dict[int, Callable[[int, FrameType | None], Any]] = {}
        for sig in _DRAIN_SIGNALS:
            handler = signal.getsignal(sig)
            if not callable(handler):
                logger.warning(
                    "cannot drain: uvicorn installed no handler for %s (pid %d)",
                    signal.Signals(sig).name,
                    os.getpid(),
                )
                return
            handed_on[sig] = handler
        draining: list[asyncio.TimerHandle] = []

        def begin(sig: int) -> None:
            if draining:  # a second signal: stop now
                draining.pop().cancel()
                handed_on[sig](sig, None)
                return
            lifecycle.begin_shutdown()
            if self.drain:
                logger.info(
                    "draining: serving %g s more with the health view at 503 (pid %d)",
                    self.drain,
                    os.getpid(),
                )
            draining.append(loop.call_later(self.drain, handed_on[sig], sig, None))

        def on_signal(sig: int, frame: FrameType | None) -> None:
            # A signal handler may run between any two bytecodes: leave the
            # work to the loop.
            loop.call_soon_threadsafe(begin, sig)

        for sig in _DRAIN_SIGNALS:
            signal.signal(sig, on_signal)
