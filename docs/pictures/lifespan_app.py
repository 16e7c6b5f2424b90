"""The project the lifespan picture runs under uvicorn.

A receiver of each signal, a registered lifespan, two clients and a view,
each logging what it does to the ``pictures`` logger; the ASGI application
logs the lifespan messages the server and sessionhub's handler exchange.
``python -m docs.pictures lifespan`` draws the diagram from that log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

import sessionhub

log = logging.getLogger("pictures")


async def index(request: HttpRequest) -> JsonResponse:
    """A view: it gets the worker's client."""
    log.info("handler -> clients: get('search')")
    return JsonResponse({"client": type(sessionhub.get("search")).__name__})


urlpatterns = [path("", index)]

settings.configure(
    SECRET_KEY="pictures",
    INSTALLED_APPS=["sessionhub"],
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1"],
    USE_TZ=True,
    SESSIONHUB={"default": {}, "search": {"BASE_URL": "http://127.0.0.1:9200/"}},
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {
            name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
            for name in ("sessionhub", "pictures")
        },
    },
)

from sessionhub.asgi import get_asgi_application  # noqa: E402
from sessionhub.signals import lifespan_finished, lifespan_started  # noqa: E402


async def warm_up(sender: type, **kwargs: Any) -> None:
    log.info("handler -> receivers: lifespan_started")
    sessionhub.get("search")
    log.info("receivers -> clients: get('search')")


async def say_goodbye(sender: type, **kwargs: Any) -> None:
    log.info("handler -> receivers: lifespan_finished")
    sessionhub.get("search")
    log.info("receivers -> clients: get('search')")


@asynccontextmanager
async def search_index() -> AsyncIterator[dict[str, str]]:
    log.info("handler -> registered lifespans: enter search_index()")
    try:
        yield {"index": "ready"}
    finally:
        log.info("handler -> registered lifespans: exit search_index()")


handler = get_asgi_application()
lifespan_started.connect(warm_up)
lifespan_finished.connect(say_goodbye)
sessionhub.register_lifespan(search_index)

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """sessionhub's handler, with the lifespan messages logged as they pass."""
    if scope["type"] != "lifespan":
        log.info("server -> handler: %s %s", scope["method"], scope["path"])

        async def responding(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                log.info("handler -> server: %s", message["status"])
            await send(message)

        await handler(scope, receive, responding)
        return

    async def receiving() -> Mapping[str, Any]:
        message = await receive()
        log.info("server -> handler: %s", message["type"])
        return message

    async def sending(message: Mapping[str, Any]) -> None:
        log.info("handler -> server: %s", message["type"])
        await send(message)

    await handler(scope, receiving, sending)
