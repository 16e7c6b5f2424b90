"""A Django ASGI handler that speaks the ASGI lifespan protocol."""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import django
from asgiref.typing import LifespanScope
from django.core.handlers.asgi import ASGIHandler
from django.dispatch import Signal

from sessionhub import hub
from sessionhub.signals import lifespan_finished, lifespan_started

__all__ = ["LifespanASGIHandler", "get_asgi_application"]

logger = logging.getLogger("sessionhub")

_Receive = Callable[[], Awaitable[Mapping[str, Any]]]
_Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class LifespanASGIHandler(ASGIHandler):
    """Django's ASGI handler plus the lifespan protocol (ASGI lifespan spec 2.0).

    Lifespan scopes send ``lifespan_started`` and ``lifespan_finished``; every
    other scope goes to Django unchanged.
    """

    async def __call__(self, scope: dict[str, Any], receive: _Receive, send: _Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)  # type: ignore[arg-type]
        else:
            await super().__call__(scope, receive, send)

    async def _lifespan(self, scope: LifespanScope, receive: _Receive, send: _Send) -> None:
        state = scope.get("state")
        while True:
            message = await receive()
            match message["type"]:
                case "lifespan.startup":
                    hub._start_lifespan()
                    # The server sends no lifespan.shutdown after a failed
                    # startup, so nothing opened so far may stay open.
                    try:
                        failures = await self._dispatch(lifespan_started, scope, state)
                    except BaseException:  # cancelled: the server is going away
                        await hub._end_lifespan()
                        raise
                    if failures:
                        await hub._end_lifespan()
                        await send({"type": "lifespan.startup.failed", "message": failures})
                        return
                    logger.info("lifespan started (pid %d)", os.getpid())
                    await send({"type": "lifespan.startup.complete"})
                case "lifespan.shutdown":
                    hub._begin_shutdown()
                    try:
                        failures = await self._dispatch(lifespan_finished, scope, state)
                    finally:
                        started = time.perf_counter()
                        closed = await hub._end_lifespan()
                    logger.info(
                        "lifespan finished: closed %d client(s) in %.1f ms (pid %d)",
                        closed,
                        (time.perf_counter() - started) * 1000,
                        os.getpid(),
                    )
                    if failures:
                        await send({"type": "lifespan.shutdown.failed", "message": failures})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                    return
                case other:
                    # The spec has no other messages; a newer server's extension
                    # is no reason to take the worker down.
                    logger.warning(
                        "ignoring unknown ASGI lifespan message %r (pid %d)", other, os.getpid()
                    )

    async def _dispatch(
        self, signal: Signal, scope: LifespanScope, state: dict[str, Any] | None
    ) -> str:
        """Send ``signal`` to every receiver; describe what failed ("" if nothing)."""
        name = "lifespan_started" if signal is lifespan_started else "lifespan_finished"
        try:
            responses = await signal.asend_robust(sender=self.__class__, scope=scope, state=state)
        except Exception as exc:
            # Receivers' errors are caught by asend_robust; this is one in the
            # dispatch itself. Raising it would tell the server "no lifespan
            # support", and uvicorn's --lifespan auto would serve on without one.
            return _describe(f"sending {name} failed:", exc)
        return "\n".join(
            _describe(
                f"{name} receiver {receiver.__module__}.{receiver.__qualname__} raised", result
            )
            for receiver, result in responses
            if isinstance(result, BaseException)
        )


def _describe(what: str, exc: BaseException) -> str:
    """One line an operator can grep for, then the traceback."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return f"{what} {type(exc).__name__}: {exc}\n{trace}"


def get_asgi_application() -> LifespanASGIHandler:
    """Set Django up and return the lifespan-aware ASGI application.

    A drop-in replacement for ``django.core.asgi.get_asgi_application``.
    """
    django.setup(set_prefix=False)
    return LifespanASGIHandler()
