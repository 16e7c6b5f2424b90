from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

import sessionhub
from tests.views import search


async def checkout(request: HttpRequest) -> JsonResponse:
    """Charge ``amount`` through the ``payments`` client."""
    charge = {"amount": int(request.POST["amount"])}
    async with sessionhub.get("payments").post("charges", json=charge) as response:
        response.raise_for_status()
        body = await response.json()
    return JsonResponse({"charge": body["id"], "amount": body["amount"]})


def motd(request: HttpRequest) -> JsonResponse:
    """What the lifespan_started receiver left in the state (a sync view)."""
    return JsonResponse({"motd": request.state["motd"]})  # type: ignore[attr-defined]


urlpatterns = [
    path("checkout/", checkout),
    path("search/", search),
    path("motd/", motd),
]
