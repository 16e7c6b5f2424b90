"""Settings shared by every Django variant of the benchmark.

Both lifespan-aware apps are installed and the peer's state middleware is on
for every variant, so the variants differ only in their view and ASGI handler.
"""

from __future__ import annotations

SECRET_KEY = "sessionhub-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = ["sessionhub", "bench.project"]
# django-asgi-lifespan's documented way to reach the lifespan state: request.state.
MIDDLEWARE = ["django_asgi_lifespan.middleware.LifespanStateMiddleware"]
ROOT_URLCONF = "bench.project.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# A failing upstream call must show up in the server's log, not only as a 500.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        # Its lifespan lines say how many sessions it closed at shutdown.
        "sessionhub": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
