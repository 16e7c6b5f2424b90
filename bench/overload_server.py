"""The server side of the mechanisms ``python -m bench.overload`` compares with sessionhub's.

``Worker`` is sessionhub's gunicorn worker with its admission replaced as
``BENCH_ADMISSION`` says:

- ``connections``: what sessionhub shipped before: uvicorn's ``limit_concurrency``
  at gunicorn's ``worker_connections``, which counts open connections, idle
  ones included; no bound on a connection's first request;
- ``requests``: a fixed bound on requests in flight (``SESSIONHUB_MAX_REQUESTS_IN_FLIGHT``),
  without the bound on how long a request waits to start.

The factories build the demo's session without sessionhub's hooks (so it
never refuses a call at once): ``plain`` as sessionhub's factory did before,
``pool_timeout`` with a bound on the wait for a pooled connection, half of
``TIMEOUT``, through aiohttp's own ``ClientTimeout.connect``.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from sessionhub import admission
from sessionhub.options import ClientConfig
from sessionhub.workers import UvicornWorker

__all__ = ["Worker", "plain", "pool_timeout"]


class Worker(UvicornWorker):
    """sessionhub's worker, admitting as ``BENCH_ADMISSION`` says."""

    def load_wsgi(self) -> None:
        """Load as sessionhub's worker does, then swap its admission for the one asked."""
        super().load_wsgi()
        mode = os.environ["BENCH_ADMISSION"]
        draining: Any = self.wsgi
        door = draining.app
        assert isinstance(door, admission.Admission), door
        self.config.http = "auto"  # no bound on a connection's first request
        if mode == "connections":
            draining.app = door.app
            self.config.limit_concurrency = self.cfg.worker_connections
        elif mode == "requests":
            admission.MAX_WAIT = float("inf")
        else:
            raise SystemExit(f"BENCH_ADMISSION={mode!r}: connections or requests")


def plain(config: ClientConfig) -> aiohttp.ClientSession:
    """The demo's session as sessionhub built it before: no hooks, aiohttp's timeout rounding."""
    return _session(config, connect=None, ceil=5)


def pool_timeout(config: ClientConfig) -> aiohttp.ClientSession:
    """The demo's session, waiting at most half its ``TIMEOUT`` for a pooled connection."""
    assert config.timeout is not None
    return _session(config, connect=config.timeout / 2, ceil=float("inf"))


def _session(config: ClientConfig, connect: float | None, ceil: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=config.limit,
        limit_per_host=config.limit_per_host,
        keepalive_timeout=config.keepalive_timeout,
    )
    timeout = aiohttp.ClientTimeout(
        total=config.timeout,
        connect=connect,
        sock_connect=config.connect_timeout,
        ceil_threshold=ceil,
    )
    return aiohttp.ClientSession(
        timeout=timeout, connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    )
