"""The reference project's settings, with the test views' URLs, for servers the tests start."""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403
from config.settings import SESSIONHUB

ROOT_URLCONF = "tests.urls"
# The tests read the pool counts from the health view.
SESSIONHUB_HEALTH_DETAILS = True
# E2E_POOL_LIMIT=0 lifts the pool limits, so that every request in flight
# reaches the upstream at once.
if "E2E_POOL_LIMIT" in os.environ:
    limit = int(os.environ["E2E_POOL_LIMIT"])
    SESSIONHUB = {"default": {**SESSIONHUB["default"], "LIMIT": limit, "LIMIT_PER_HOST": limit}}

# The lifespan bounds, for the tests of hung receivers.
SESSIONHUB_STARTUP_TIMEOUT = float(os.environ.get("SESSIONHUB_STARTUP_TIMEOUT", "30"))
SESSIONHUB_SHUTDOWN_TIMEOUT = float(os.environ.get("SESSIONHUB_SHUTDOWN_TIMEOUT", "5"))
