"""Settings for the composed applications the tests serve (Channels, a FastAPI host, ...)."""

from __future__ import annotations

import os

from tests.e2e_settings import *  # noqa: F403
from tests.e2e_settings import INSTALLED_APPS, LOGGING, SESSIONHUB

INSTALLED_APPS = [*INSTALLED_APPS, "tests.compose_app.apps.ComposeAppConfig"]
# The README's FastAPI example calls the "quotes" client of its Quickstart.
if "E2E_QUOTES_URL" in os.environ:
    # SESSIONHUB's options are typed as the reference project's (floats).
    SESSIONHUB = {**SESSIONHUB, "quotes": {"BASE_URL": os.environ["E2E_QUOTES_URL"]}}  # type: ignore[dict-item]

ROOT_URLCONF = "tests.compose_urls"
MIDDLEWARE = [
    "sessionhub.middleware.LifespanStateMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# daphne says where it listens at INFO, which the project's root level hides.
LOGGING = {
    **LOGGING,
    "loggers": {
        **LOGGING["loggers"],  # type: ignore[dict-item]
        "daphne": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
