"""Django Channels with sessionhub: the README's ``asgi.py`` for Channels, served by the tests."""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.compose_settings")

from sessionhub.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import sessionhub  # noqa: E402
from tests import compose_receivers  # noqa: E402

compose_receivers.connect()


class FetchConsumer(AsyncWebsocketConsumer):
    """Fetches each URL it is sent with ``sessionhub.get()`` and answers with the JSON."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        session = sessionhub.get()
        async with session.get(text_data) as response:
            upstream: Any = await response.json()
        state = self.scope.get("state") or {}
        answer = {
            "pid": os.getpid(),
            "session": id(session),
            "upstream": upstream,
            "greeting": state.get("greeting"),
        }
        await self.send(text_data=json.dumps(answer))


# Channels' documented routing; the stubs type path() for views only.
websocket = URLRouter([path("ws/fetch/", FetchConsumer.as_asgi())])  # type: ignore[list-item, arg-type]

# The README's pattern: the lifespan goes to sessionhub's handler too.
application = ProtocolTypeRouter(
    {"http": django_app, "websocket": websocket, "lifespan": django_app}
)

# Channels' documented asgi.py, for comparison: no 'lifespan' route.
without_lifespan = ProtocolTypeRouter({"http": django_app, "websocket": websocket})
