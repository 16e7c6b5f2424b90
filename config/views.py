"""The demo: an async view that calls an upstream through ``sessionhub.get()``."""

from __future__ import annotations

import os

import aiohttp
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse

import sessionhub


async def demo(request: HttpRequest) -> JsonResponse:
    """Fetch the upstream and report which worker and which session served it."""
    url = settings.DEMO_UPSTREAM_URL or _embedded_upstream(request)
    session = sessionhub.get()  # its timeout is set in settings.SESSIONHUB
    try:
        async with session.get(url) as response:
            response.raise_for_status()
            upstream = await response.json()
    except TimeoutError:
        return JsonResponse({"error": f"upstream {url} timed out"}, status=504)
    except aiohttp.ClientError as exc:
        return JsonResponse({"error": f"upstream {url} failed: {exc!r}"}, status=502)
    return JsonResponse({"pid": os.getpid(), "session": id(session), "upstream": upstream})


async def upstream(request: HttpRequest) -> JsonResponse:
    """The embedded default upstream."""
    return JsonResponse({"message": "hello from the embedded upstream", "pid": os.getpid()})


def _embedded_upstream(request: HttpRequest) -> str:
    path = reverse("upstream")
    # Under ASGI, scope["server"] is the socket this worker accepted the
    # request on, which is safer to call back than the client's Host header.
    server = getattr(request, "scope", {}).get("server")
    if server and isinstance(server[1], int):
        host = f"[{server[0]}]" if ":" in server[0] else server[0]
        return f"http://{host}:{server[1]}{path}"
    return request.build_absolute_uri(path)
