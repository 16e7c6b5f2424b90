"""One view per Django variant. They differ only in where the session comes from."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import aiohttp
from django.http import HttpRequest, HttpResponse

import sessionhub
from bench.client import fetch, new_session
from bench.project.lifespan import SESSION_KEY

__all__ = ["django_asgi_lifespan", "module_global", "per_request", "sessionhub_get"]


async def per_request(request: HttpRequest) -> HttpResponse:
    """A new session, and so a new upstream connection, for every request."""
    async with new_session() as session:
        return _answer(await fetch(session))


_global_session: aiohttp.ClientSession | None = None


async def module_global(request: HttpRequest) -> HttpResponse:
    """One session in a module global, created on first use and never closed."""
    global _global_session
    if _global_session is None:
        _global_session = new_session()
    return _answer(await fetch(_global_session))


async def sessionhub_get(request: HttpRequest) -> HttpResponse:
    """The worker's session from ``sessionhub.get()``."""
    return _answer(await fetch(sessionhub.get()))


async def django_asgi_lifespan(request: HttpRequest) -> HttpResponse:
    """The worker's session from django-asgi-lifespan's ``request.state``."""
    state: MutableMapping[str, Any] = request.state  # type: ignore[attr-defined]
    return _answer(await fetch(state[SESSION_KEY]))


def _answer(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type="application/json")
