"""Settings for the composed applications the tests serve (Channels, a FastAPI host, ...)."""

from __future__ import annotations

from tests.e2e_settings import *  # noqa: F403

ROOT_URLCONF = "tests.compose_urls"
MIDDLEWARE = [
    "sessionhub.middleware.LifespanStateMiddleware",
    "django.middleware.common.CommonMiddleware",
]
