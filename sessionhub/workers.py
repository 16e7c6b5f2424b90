"""A gunicorn worker class: uvicorn-worker's, with a drain and a shutdown that fit gunicorn's.

``worker_class = "sessionhub.workers.UvicornWorker"`` (the ``deploy`` extra) is
``uvicorn_worker.UvicornWorker`` configured through its public surface
(gunicorn's ``load_wsgi()`` step and the uvicorn ``Config`` it keeps). It
splits gunicorn's ``graceful_timeout`` between the drain, the requests in
flight, the lifespan shutdown and the close (``plan()``), drains on SIGTERM
with the health view at 503, and keeps a watchdog over its lifespan: a
worker that outlives its bounds, whatever user code does, is ended after
saying where each thread was, with gunicorn's "Worker failed to boot" code
at startup, so that gunicorn halts instead of booting it again. It bounds
the HTTP requests in flight, not connections (``sessionhub.admission``):
gunicorn's ``worker_connections`` is not passed on to uvicorn, whose
``limit_concurrency`` would count idle connections too.
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

from sessionhub import admission, conf, lifecycle
from sessionhub.watchdog import Watchdog

__all__ = ["Budget", "UvicornWorker", "plan"]

logger = logging.getLogger("sessionhub")

# Seconds a process gets to exit once its lifespan is over, before the
# watchdog ends it.
EXIT_GRACE = 1.0
# Seconds of graceful_timeout kept for the process to exit: EXIT_GRACE, and a
# second for the signal to arrive, uvicorn's pause before it stops accepting,
# and gunicorn's own polling.
MARGIN = EXIT_GRACE + 1.0
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
            wanted = f"{drain:g} s, {REQUESTS_AT_LEAST:g} s, {shutdown:g} s and {close:g} s"
            used = f"{budget.drain:.1f} s, {budget.requests:.1f} s, {budget.shutdown:.1f} s and "
            logger.warning(
                "gunicorn's graceful_timeout (%g s) cannot hold SESSIONHUB_DRAIN_SECONDS, "
                "requests in flight, SESSIONHUB_SHUTDOWN_TIMEOUT and SESSIONHUB_CLOSE_TIMEOUT "
                "(%s) and %g s of margin; this worker uses %s%.1f s instead. Raise "
                "graceful_timeout or lower the settings (pid %d)",
                graceful,
                wanted,
                MARGIN,
                used,
                budget.close,
                os.getpid(),
            )
        self.config.timeout_graceful_shutdown = budget.requests
        conf.limit(
            {
                "SESSIONHUB_SHUTDOWN_TIMEOUT": budget.shutdown,
                "SESSIONHUB_CLOSE_TIMEOUT": budget.close,
            }
        )
        self.wsgi = _Supervised(admission.wrap(self.wsgi), budget)  # type: ignore[has-type]


_ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class _Supervised:
    """The application, with a drain and a watchdog over its lifespan.

    The watchdog gives the startup ``SESSIONHUB_STARTUP_TIMEOUT`` plus the
    bounds of undoing it, and the shutdown the bounds of the plan, each plus
    ``EXIT_GRACE`` for the process to exit. A startup that never ends exits 3
    (gunicorn halts); a shutdown that never ends exits 1.

    uvicorn answers SIGTERM by closing its sockets at once, and offers no hook
    before that. Once startup is complete (uvicorn's signal handlers are
    installed by then), this puts a handler in front of uvicorn's that
    begins shutdown (the health view's 503 from the first moment) and hands
    the signal on to uvicorn ``drain`` seconds later (0: at once). A second
    signal is handed on at once.
    """

    def __init__(self, app: _ASGIApp, budget: Budget) -> None:
        self.app = app  # where sessionhub.W001 looks through wrappers
        self.budget = budget
        self.watchdog = Watchdog()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        budget, watchdog = self.budget, self.watchdog
        stop = budget.shutdown + budget.close + EXIT_GRACE

        async def receiving() -> Mapping[str, Any]:
            message: Mapping[str, Any] = await receive()
            if message["type"] == "lifespan.startup":
                seconds = conf.startup_timeout() + stop
                watchdog.arm(seconds, Arbiter.WORKER_BOOT_ERROR, _overran("startup", seconds))
            else:  # lifespan.shutdown, or a message that ends the lifespan as well
                watchdog.arm(stop, 1, _overran("shutdown", stop))
            return message

        async def sending(message: Mapping[str, Any]) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                watchdog.disarm()
                self._install()
            elif kind == "lifespan.startup.failed":
                why = "the lifespan startup failed, and the process did not exit"
                watchdog.arm(EXIT_GRACE, Arbiter.WORKER_BOOT_ERROR, why)
            else:  # lifespan.shutdown.complete or .failed
                watchdog.arm(EXIT_GRACE, 1, "the lifespan is over, and the process did not exit")
            await send(message)

        return await self.app(scope, receiving, sending)

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
        budget = self.budget
        # Everything after the signal, as planned, and the time to exit.
        planned = budget.drain + budget.requests + budget.shutdown + budget.close + EXIT_GRACE

        def begin(sig: int) -> None:
            if draining:  # a second signal: stop now
                draining.pop().cancel()
                handed_on[sig](sig, None)
                return
            lifecycle.begin_shutdown(server=True)
            if budget.drain:
                logger.info(
                    "draining: serving %g s more with the health view at 503 (pid %d)",
                    budget.drain,
                    os.getpid(),
                )
            draining.append(loop.call_later(budget.drain, handed_on[sig], sig, None))

        def on_signal(sig: int, frame: FrameType | None) -> None:
            # Armed here, not on the loop: the loop may be what is stuck. (The
            # watchdog's lock is reentrant, and a signal handler runs between
            # two bytecodes of this very thread.)
            self.watchdog.arm(planned, 1, _overran("shutdown", planned))
            # Leave the rest to the loop.
            loop.call_soon_threadsafe(begin, sig)

        for sig in _DRAIN_SIGNALS:
            signal.signal(sig, on_signal)


def _overran(phase: str, seconds: float) -> str:
    return (
        f"the lifespan {phase} did not end within its bounds ({seconds:g} s): the event loop "
        "is blocked, or code ignores its cancellation"
    )
