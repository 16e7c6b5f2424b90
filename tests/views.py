"""Views for the tests: each fetches ``?url=`` through a named client."""

from __future__ import annotations

from typing import Any

import aiohttp
from django.http import HttpRequest, JsonResponse

import sessionhub


async def fetch(request: HttpRequest, client: str) -> JsonResponse:
    """Fetch ``?url=`` with client ``client``; answer with the upstream's JSON."""
    return JsonResponse(await fetch_json(sessionhub.get(client), request.GET["url"]))


async def search(request: HttpRequest) -> JsonResponse:
    """Ask the ``search`` client (a fake in the tests) for ``?q=``."""
    return JsonResponse({"results": await sessionhub.get("search").search(request.GET["q"])})


async def fetch_json(client: Any, url: str) -> Any:
    """GET ``url`` with an aiohttp session or an httpx client; return its JSON body."""
    if isinstance(client, aiohttp.ClientSession):
        async with client.get(url) as response:
            response.raise_for_status()
            return await response.json()
    response = await client.get(url)
    response.raise_for_status()
    return response.json()
