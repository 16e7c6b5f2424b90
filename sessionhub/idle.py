"""A time limit on connections that have not sent a request, for uvicorn.

uvicorn closes a keep-alive connection left idle ``timeout_keep_alive``
seconds after a response, but keeps a connection that never completes a first
request for as long as its client likes (its issue 160): each holds a file
descriptor and memory, and a client can open thousands. sessionhub's gunicorn
worker serves HTTP with uvicorn's httptools protocol plus that limit: a
connection whose first request head is not complete within it is closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

__all__ = ["bound", "protocol"]

logger = logging.getLogger("sessionhub")
# Seconds to the first request where keep-alive is off (uvicorn's default keep-alive).
WITHOUT_KEEPALIVE = 5.0


def bound(config: Any, keepalive: float) -> None:
    """Give uvicorn's ``config`` as long to wait for a connection's first request as for its
    next one, ``keepalive`` seconds, unless it serves HTTP with another protocol than httptools.
    """
    if config.http in ("auto", "httptools"):
        config.http = protocol(keepalive or WITHOUT_KEEPALIVE) or config.http


def protocol(seconds: float) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol, closing connections with no request head after ``seconds``.

    ``None`` (and a warning) where httptools is not installed.
    """
    try:
        # The one uvicorn internal used: on_headers_complete, httptools'
        # callback for a complete request head (uvicorn is pinned below 0.55).
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        logger.warning(
            "httptools is not installed: connections that never send a request are kept open "
            "(pip install httptools, or django-sessionhub[deploy]) (pid %d)",
            os.getpid(),
        )
        return None

    class FirstRequestTimeout(HttpToolsProtocol):
        _first: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._first = asyncio.get_running_loop().call_later(seconds, transport.close)

        def on_headers_complete(self) -> None:
            self._cancel()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

        def _cancel(self) -> None:
            if self._first is not None:
                self._first.cancel()
                self._first = None

    return FirstRequestTimeout
