"""The health view, for load balancers' readiness checks (see ``sessionhub.urls``)."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from sessionhub import conf, lifecycle
from sessionhub.stats import stats

__all__ = ["health"]

logger = logging.getLogger("sessionhub")


@never_cache
async def health(request: HttpRequest) -> JsonResponse:
    """200 while this worker serves, 503 once its lifespans (or its server) began to shut down.

    The body is ``{"status": "ok"}`` or ``{"status": "stopping"}``; with
    ``SESSIONHUB_HEALTH_DETAILS = True`` it adds the pid and ``stats()``.
    """
    serving = lifecycle.serving()
    body: dict[str, Any] = {"status": "ok" if serving else "stopping"}
    if conf.health_details():
        body["pid"] = os.getpid()
        try:
            body["clients"] = stats()
        except Exception:
            # A health check must say whether the worker serves, whatever a
            # client library's internals do to the description of its pool.
            logger.exception("health view: describing the clients failed (pid %d)", os.getpid())
            body["clients"] = None
    return JsonResponse(body, status=200 if serving else 503)
