"""Two requests through Django's test client, each on a loop of its own, as under runserver.

First with a module-global session, then with ``sessionhub.get()``. Prints
one JSON message per line, ``[source, target, label, reply]``, for
``python -m docs.pictures module-global``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import aiohttp
import django
from aiohttp import web
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

import sessionhub

UPSTREAM: list[str] = []
session: aiohttp.ClientSession | None = None
loops: dict[int, str] = {}
messages: list[tuple[str, str, str, bool]] = []
CLIENT, VIEW, GLOBAL, HUB = (
    "Django test client",
    "async view",
    "module-global session",
    "sessionhub",
)


def loop() -> str:
    """The running loop, named by the order it was first seen in."""
    key = id(asyncio.get_running_loop())
    return loops.setdefault(key, f"loop {len(loops) + 1}")


async def forecast(request: HttpRequest) -> JsonResponse:
    global session
    if session is None:
        session = aiohttp.ClientSession()
        messages.append((VIEW, GLOBAL, f"ClientSession() on {loop()}", False))
    messages.append((VIEW, GLOBAL, f"get() on {loop()}", False))
    async with session.get(UPSTREAM[0]) as response:
        return JsonResponse(await response.json())


async def weather(request: HttpRequest) -> JsonResponse:
    messages.append((VIEW, HUB, f"sessionhub.get() on {loop()}", False))
    async with sessionhub.get().get(UPSTREAM[0]) as response:
        return JsonResponse(await response.json())


urlpatterns = [path("forecast/", forecast), path("weather/", weather)]


class Lines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        for verb in ("created", "closed"):
            if text.startswith(f"{verb} client 'default'"):
                where = "at the end of" if verb == "closed" else "on"
                messages.append((HUB, HUB, f"{verb} client 'default' {where} {loop()}", False))


def serve(ready: threading.Event, stop: threading.Event) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"today": "sunny"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/today", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        UPSTREAM.append(f"http://127.0.0.1:{runner.addresses[0][1]}/today")
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()

    asyncio.run(main())


def ask(client: Client, url: str, view: str) -> None:
    messages.append((CLIENT, VIEW, f"GET {url} ({view})", False))
    try:
        response = client.get(url)
        messages.append((VIEW, CLIENT, f"{response.status_code}", True))
    except Exception as exc:
        messages.append((GLOBAL, VIEW, f"{type(exc).__name__}: {exc}", True))
        messages.append((VIEW, CLIENT, "500", True))


def main() -> None:
    settings.configure(
        SECRET_KEY="pictures",
        INSTALLED_APPS=["sessionhub"],
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
    )
    django.setup()
    logger = logging.getLogger("sessionhub")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Lines())
    ready, stop = threading.Event(), threading.Event()
    upstream = threading.Thread(target=serve, args=(ready, stop))
    upstream.start()
    ready.wait(30)
    try:
        client = Client()
        for view in ("first request", "second request"):
            ask(client, "/forecast/", view)
        loops.clear()
        for view in ("first request", "second request"):
            ask(client, "/weather/", view)
    finally:
        stop.set()
        upstream.join(30)
        if session is not None:
            session.detach()  # its loop is closed: nothing can close it any more
    for message in messages:
        print(json.dumps(message))


if __name__ == "__main__":
    main()
