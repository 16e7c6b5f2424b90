"""A Channels consumer that calls ``sessionhub.get()``, and its websocket routes."""

from __future__ import annotations

import json
import os
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

import sessionhub


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
websocket_urlpatterns = [path("ws/fetch/", FetchConsumer.as_asgi())]  # type: ignore[arg-type]
