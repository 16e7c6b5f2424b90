"""Settings of the sessionhub reference project.

Everything an operator may change comes from the environment; the defaults run
the demo on one machine, offline.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1/0, true/false, on/off.")


DEBUG = _env_bool("DJANGO_DEBUG", False)
# The demo signs nothing and keeps no user sessions; a real project sets its own.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sessionhub-demo-insecure-key")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = ["sessionhub"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"

# Where the demo view sends its request. Empty: the project's own /upstream/
# endpoint, on the address this worker is serving, so the demo runs offline.
DEMO_UPSTREAM_URL = os.environ.get("DEMO_UPSTREAM_URL", "")
DEMO_UPSTREAM_TIMEOUT = float(os.environ.get("DEMO_UPSTREAM_TIMEOUT", "10"))

# sessionhub's clients (README, "Settings"): the demo uses "default".
SESSIONHUB = {
    "default": {"TIMEOUT": DEMO_UPSTREAM_TIMEOUT},
}
# Shutdown (README, "Running in production"): seconds to keep serving after
# SIGTERM with the health view at 503, and the bound on closing clients.
SESSIONHUB_DRAIN_SECONDS = float(os.environ.get("SESSIONHUB_DRAIN_SECONDS", "0"))
SESSIONHUB_CLOSE_TIMEOUT = float(os.environ.get("SESSIONHUB_CLOSE_TIMEOUT", "5"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "sessionhub": {
            "handlers": ["stderr"],
            "level": os.environ.get("SESSIONHUB_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
