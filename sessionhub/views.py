"""The health view, for load balancers' readiness checks (see ``sessionhub.urls``)."""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from sessionhub import lifecycle
from sessionhub.stats import stats

__all__ = ["health"]


@never_cache
async def health(request: HttpRequest) -> JsonResponse:
    """200 while this worker's lifespan runs, 503 before it and once shutdown has begun."""
    serving = lifecycle.serving()
    body = {
        "status": "ok" if serving else "stopping",
        "pid": os.getpid(),
        "clients": stats(),
    }
    return JsonResponse(body, status=200 if serving else 503)
