"""Views that read the lifespan state through ``request.state``, and their URLs."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path


async def greeting(request: HttpRequest) -> JsonResponse:
    """What a lifespan_started receiver left in the state, from an async view."""
    state: Any = request.state  # type: ignore[attr-defined]
    return JsonResponse({"greeting": state["greeting"], "keys": sorted(state)})


def greeting_sync(request: HttpRequest) -> JsonResponse:
    """The same from a sync view."""
    state: Any = request.state  # type: ignore[attr-defined]
    return JsonResponse({"greeting": state["greeting"], "keys": sorted(state)})


def hello(request: HttpRequest) -> JsonResponse:
    """A view that does not read the state."""
    return JsonResponse({"hello": True})


urlpatterns = [
    path("state/", greeting),
    path("state/sync/", greeting_sync),
    path("hello/", hello),
]
