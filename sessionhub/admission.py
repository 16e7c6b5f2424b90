"""Admission: bounds on the requests a worker takes on, and 503s for what it cannot answer.

``Admission`` wraps an ASGI application (sessionhub's gunicorn worker wraps the
project's). It answers an HTTP request ``503`` with ``Retry-After`` at once,
before Django sees it, when the worker cannot take it on:

- ``limit`` requests are in flight: a bound on memory. It counts requests, not
  connections: a connection that is idle, or has not sent a whole request yet,
  never counts;
- or it has waited more than ``MAX_WAIT`` seconds to start: since the proxy in
  front received it, as its ``X-Request-Start`` header says (nginx's
  ``t=${msec}``, or milliseconds since the epoch), and at least as long as the
  event loop is running late (a timer it sets every ``TICK`` seconds). A worker
  whose CPU is the bottleneck thus refuses what it cannot start in time, at
  the cost of a 503, and catches up.

The health view always passes. How long a request may wait for a pooled
connection is bounded where it waits (``sessionhub.shedding``).

``OverloadMiddleware`` answers ``503`` with ``Retry-After`` for a view whose
upstream call its client refused at once (``PoolOverloadedError``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import NoReverseMatch, reverse

from sessionhub import conf
from sessionhub.errors import PoolOverloadedError

__all__ = ["Admission", "OverloadMiddleware", "wrap"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
# Seconds a client refused for a full worker is asked to wait: requests are
# short next to that, so there is room again by then, here or on another worker.
RETRY_AFTER = 1
# How often the loop's lateness is measured, and how late it may run before
# requests are refused: a request that starts later than that is late already,
# and refusing the next ones is what lets the loop catch up.
TICK = 0.1
MAX_WAIT = 0.5
# No request waits an hour for a worker: a stamp that old is another clock's.
IMPLAUSIBLE = 3600.0
_FULL = b"Service Unavailable: this server is handling all the requests it can; retry later.\n"


def wrap(app: ASGIApp) -> ASGIApp:
    """``app`` bounded by ``SESSIONHUB_MAX_REQUESTS_IN_FLIGHT`` (``app`` itself if that is 0)."""
    limit = conf.max_requests_in_flight()
    return Admission(app, limit) if limit else app


class Admission:
    """``app``, answering 503 at once to HTTP requests past ``limit`` in flight.

    ``in_flight`` and ``refused`` (since start) say what it does.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app  # where sessionhub.W001 looks through wrappers
        self.limit = limit
        self.in_flight = 0
        self.refused = 0
        # Seconds the loop's last tick ran late.
        self.lag = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._tick(loop, 0.0)
        full = self.in_flight >= self.limit or max(self.lag, _waited(scope)) > MAX_WAIT
        if full and not self._is_health(scope):
            self.refused += 1
            return await _refuse(send, RETRY_AFTER, _FULL)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        # Runs for as long as its loop does (a loop's pending timers end with
        # it), or until another loop calls this application.
        if due and loop is not self._loop:
            return
        # Not loop.time(): uvloop's is the time its current iteration began.
        now = time.monotonic()
        self.lag = max(now - due, 0.0) if due else 0.0
        self._loop = loop
        loop.call_later(TICK, self._tick, loop, now + TICK)

    def _is_health(self, scope: Any) -> bool:
        # A full worker still says whether it serves: a load balancer that
        # took it out for being busy would only move the load elsewhere.
        if self._health is None:
            try:
                self._health = reverse("sessionhub:health")
            except NoReverseMatch:
                self._health = ""
        path: str = scope["path"]
        return bool(self._health) and path.removeprefix(scope.get("root_path", "")) == self._health


def _waited(scope: Any) -> float:
    """Seconds since the proxy received the request, from ``X-Request-Start`` (0: unknown).

    The proxy's clock must agree with this host's (the same host or pod, or
    NTP). A stamp from the future, or from over ``IMPLAUSIBLE`` seconds ago,
    is another clock's: unknown.
    """
    for name, value in scope["headers"]:
        if name == b"x-request-start":
            try:
                stamp = float(value.removeprefix(b"t="))
            except ValueError:
                return 0.0
            # nginx gives seconds; others milliseconds or microseconds.
            while stamp > 1e11:
                stamp /= 1000
            waited = time.time() - stamp
            return waited if 0 < waited < IMPLAUSIBLE else 0.0
    return 0.0


async def _refuse(send: Any, retry_after: int, body: bytes) -> None:
    """Answer 503 with ``Retry-After`` and a plain-text ``body``."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"retry-after", str(retry_after).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class OverloadMiddleware:
    """Answer 503 with ``Retry-After`` when a view's upstream call was refused at once.

    A client's pool refuses a call it could not answer within the client's
    ``TIMEOUT`` by raising ``sessionhub.PoolOverloadedError``; a view that
    lets it propagate gets this answer instead of a 500 and a logged traceback.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        return await cast(Awaitable[HttpResponseBase], self.get_response(request))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """503 with ``Retry-After`` for ``PoolOverloadedError``; else Django's own handling."""
        if not isinstance(exception, PoolOverloadedError):
            return None
        response = HttpResponse(
            "Service Unavailable: an upstream service is busy; retry later.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(exception.retry_after)
        return response
