"""A gunicorn worker class: uvicorn-worker's, with a shutdown that fits gunicorn's timing.

``worker_class = "sessionhub.workers.UvicornWorker"`` (needs the ``deploy``
extra). On SIGTERM, and when ``max_requests`` retires it, the worker

1. keeps serving for ``SESSIONHUB_DRAIN_SECONDS`` (default 0) while the
   health view answers 503, so load balancers stop sending it traffic;
2. stops accepting and waits for the requests in flight, for at most what
   gunicorn's ``graceful_timeout`` leaves after the drain, the close bound
   and a second of margin (uvicorn-worker alone waits without a limit, and
   gunicorn SIGKILLs a worker still busy at ``graceful_timeout``);
3. runs the lifespan shutdown, whose client closing is bounded by
   ``SESSIONHUB_CLOSE_TIMEOUT``.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker as _UvicornWorker

from sessionhub import conf, hub

__all__ = ["UvicornWorker"]

logger = logging.getLogger("sessionhub")

# Seconds kept back from graceful_timeout for lifespan_finished receivers and
# for the process to exit.
MARGIN = 1.0


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]
    """``uvicorn_worker.UvicornWorker`` that drains, and bounds its shutdown by gunicorn's."""

    async def _serve(self) -> None:
        # Django is set up by now (gunicorn loaded the application), so the
        # settings can be read.
        drain, close = conf.drain_seconds(), conf.close_timeout()
        graceful = float(self.cfg.graceful_timeout)
        requests = graceful - drain - close - MARGIN
        if requests < 1:
            logger.warning(
                "gunicorn's graceful_timeout (%s s) leaves %.1f s for requests in flight after "
                "SESSIONHUB_DRAIN_SECONDS (%s s), SESSIONHUB_CLOSE_TIMEOUT (%s s) and %s s of "
                "margin; raise graceful_timeout (pid %d)",
                graceful,
                requests,
                drain,
                close,
                MARGIN,
                os.getpid(),
            )
        self.config.timeout_graceful_shutdown = max(1, int(requests))
        self.config.app = self.wsgi
        self.server = _DrainingServer(self.config, drain)
        self._install_sigquit_handler()
        await self.server.serve(sockets=self.sockets)
        if not self.server.started:  # pragma: no cover - uvicorn exits with 3 itself first
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class _DrainingServer(Server):
    """uvicorn's server, serving on for ``drain`` seconds once told to stop."""

    def __init__(self, config: Config, drain: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_until: float | None = None

    async def on_tick(self, counter: int) -> bool:
        if not await super().on_tick(counter):
            return False
        if self.drain_until is None:
            hub._begin_shutdown()
            self.drain_until = time.monotonic() + self.drain
            if self.drain:
                logger.info(
                    "draining: serving %s s more with the health view at 503 (pid %d)",
                    self.drain,
                    os.getpid(),
                )
        return self.force_exit or time.monotonic() >= self.drain_until
