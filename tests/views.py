"""Views for the tests: each fetches ``?url=`` through a named client."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import aiohttp
from django.http import HttpRequest, JsonResponse

import sessionhub

logger = logging.getLogger("sessionhub.tests")


async def fetch(request: HttpRequest, client: str) -> JsonResponse:
    """Fetch ``?url=`` with client ``client``; answer with the upstream's JSON."""
    return JsonResponse(await fetch_json(sessionhub.get(client), request.GET["url"]))


# Uploads started by upload(), kept so they are not garbage-collected.
_uploads: set[asyncio.Task[None]] = set()


async def upload(request: HttpRequest) -> JsonResponse:
    """Start POSTing ``?bytes=`` bytes to ``?url=`` in the background, and answer at once.

    Against an upstream that never reads, the upload never finishes: the
    connection still has data to send when the worker closes its clients.
    """
    session = sessionhub.get()
    body = io.BytesIO(b"x" * int(request.GET["bytes"]))

    async def send() -> None:
        try:
            async with session.post(request.GET["url"], data=body, timeout=None):
                pass
        except aiohttp.ClientError as exc:
            logger.info("upload ended: %r", exc)

    task = asyncio.create_task(send())
    _uploads.add(task)
    task.add_done_callback(_uploads.discard)
    return JsonResponse({"started": True}, status=202)


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
