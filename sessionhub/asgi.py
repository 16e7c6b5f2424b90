"""A Django ASGI handler that speaks the ASGI lifespan protocol, and the lifespan itself."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler

from sessionhub.errors import LifespanFailedError
from sessionhub.lifespan import lifespan, run

__all__ = ["LifespanASGIHandler", "get_asgi_application", "lifespan"]

logger = logging.getLogger("sessionhub")

_Receive = Callable[[], Awaitable[Mapping[str, Any]]]
_Send = Callable[[Mapping[str, Any]], Awaitable[None]]

# Set by sessionhub.testing.lifespan() around the application it drives: the
# loop goes on after that lifespan (see sessionhub.lifecycle).
loop_continues: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sessionhub_loop_continues", default=False
)


class LifespanASGIHandler(ASGIHandler):
    """Django's ASGI handler plus the lifespan protocol (ASGI lifespan spec 2.0).

    A lifespan scope runs ``sessionhub.asgi.lifespan()``: startup on
    ``lifespan.startup``, shutdown on ``lifespan.shutdown``. Every other scope
    goes to Django unchanged.
    """

    async def __call__(self, scope: dict[str, Any], receive: _Receive, send: _Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _lifespan(self, scope: dict[str, Any], receive: _Receive, send: _Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            raise _unexpected(message, "lifespan.startup")
        running = run(type(self), scope, loop_continues=loop_continues.get())
        try:
            await running.__aenter__()
        except LifespanFailedError as exc:
            # The server sends no lifespan.shutdown after this: nothing opened
            # so far is left open (lifespan() saw to it).
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        try:
            message = await receive()
        except BaseException as exc:  # cancelled: the server is going away
            await running.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if message["type"] != "lifespan.shutdown":
            # The spec: an application that receives an invalid event raises.
            # Shut down first, so that nothing is left open.
            with contextlib.suppress(LifespanFailedError):  # logged by the shutdown
                await running.__aexit__(None, None, None)
            raise _unexpected(message, "lifespan.shutdown")
        try:
            await running.__aexit__(None, None, None)
        except LifespanFailedError as exc:
            await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
        else:
            await send({"type": "lifespan.shutdown.complete"})


def _unexpected(message: Mapping[str, Any], expected: str) -> ValueError:
    logger.error(
        "unexpected ASGI lifespan message %r instead of %s (pid %d)",
        message.get("type"),
        expected,
        os.getpid(),
    )
    return ValueError(
        f"sessionhub's lifespan received {message.get('type')!r} where the ASGI lifespan "
        f"spec allows only {expected!r}"
    )


def get_asgi_application() -> LifespanASGIHandler:
    """Set Django up and return the lifespan-aware ASGI application.

    A drop-in replacement for ``django.core.asgi.get_asgi_application``.
    """
    django.setup(set_prefix=False)
    return LifespanASGIHandler()
