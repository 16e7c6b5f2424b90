"""Settings of the sessionhub reference project.

Everything an operator may change comes from the environment (docs:
production/deployment). Without ``DJANGO_SECRET_KEY`` the project refuses to
start unless ``DJANGO_DEBUG`` is on; the HTTPS settings that ``check --deploy``
asks for are turned on by ``DJANGO_HTTPS=1``, behind a TLS proxy.
"""

from __future__ import annotations

import os
import secrets

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


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} must be a number.") from None


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} must be a whole number.") from None


DEBUG = _env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random value kept out of version "
            "control, e.g. the output of: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'. "
            "(With DJANGO_DEBUG=1 the project runs with a throwaway key instead.)"
        )
    # A throwaway for a DEBUG run: each process draws its own, so nothing
    # signed survives a restart or crosses between workers.
    SECRET_KEY = secrets.token_urlsafe(50)

# The loopback names are always allowed: the Docker HEALTHCHECK, the
# Kubernetes probes and the demo's call to its embedded upstream use them.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
_hosts = [host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")]
ALLOWED_HOSTS = list(dict.fromkeys([host for host in _hosts if host] + LOOPBACK_HOSTS))

INSTALLED_APPS = ["sessionhub"]
MIDDLEWARE = [
    # 503 with Retry-After for upstream calls refused at once (docs: production/overload).
    "sessionhub.admission.OverloadMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"

# DJANGO_HTTPS=1: the site is served over HTTPS by a proxy in front
# (deploy/nginx.conf) that sets X-Forwarded-Proto and overwrites what a client
# sent. Off, the project serves plain HTTP, as the README's first command does.
HTTPS = _env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
# Health checks and the demo's call to its embedded upstream come over plain
# HTTP from the host itself: a redirect to https:// would fail them.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^upstream/$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
# One year, as check --deploy wants; start lower (DJANGO_HSTS_SECONDS=3600)
# on a domain that has not served HTTPS only before.
SECURE_HSTS_SECONDS = _env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _env_bool("DJANGO_HSTS_PRELOAD", True)

# Where the demo view sends its request. Empty: the project's own /upstream/
# endpoint, on the loopback address and the port this worker accepted the
# request on, so the demo runs offline.
DEMO_UPSTREAM_URL = os.environ.get("DEMO_UPSTREAM_URL", "")
DEMO_UPSTREAM_TIMEOUT = _env_float("DEMO_UPSTREAM_TIMEOUT", 10)

# sessionhub's clients (docs: reference/settings): the demo uses "default".
SESSIONHUB = {
    "default": {"TIMEOUT": DEMO_UPSTREAM_TIMEOUT},
}
# The lifespan (docs: production/shutdown): the bounds on startup and
# shutdown receivers, seconds to keep serving after SIGTERM with the health
# view at 503, and the bound on closing clients.
SESSIONHUB_STARTUP_TIMEOUT = _env_float("SESSIONHUB_STARTUP_TIMEOUT", 30)
SESSIONHUB_SHUTDOWN_TIMEOUT = _env_float("SESSIONHUB_SHUTDOWN_TIMEOUT", 5)
SESSIONHUB_DRAIN_SECONDS = _env_float("SESSIONHUB_DRAIN_SECONDS", 0)
SESSIONHUB_CLOSE_TIMEOUT = _env_float("SESSIONHUB_CLOSE_TIMEOUT", 5)
# HTTP requests a worker holds at once before it answers 503 (docs: production/overload).
SESSIONHUB_MAX_REQUESTS_IN_FLIGHT = _env_int("SESSIONHUB_MAX_REQUESTS_IN_FLIGHT", 1000)
# The health view answers its status only, unless this is on.
SESSIONHUB_HEALTH_DETAILS = _env_bool("SESSIONHUB_HEALTH_DETAILS", False)

_LOG_LEVEL = os.environ.get("SESSIONHUB_LOG_LEVEL", "INFO")
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
        # django.request logs every 500 with its traceback; Django's own
        # logging config prints it only with DEBUG on.
        "django": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "config": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "sessionhub": {"handlers": ["stderr"], "level": _LOG_LEVEL, "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
