"""sessionhub's handler inside Sentry's and OpenTelemetry's ASGI middleware (README)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.compose_settings")

import sentry_sdk  # noqa: E402
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # noqa: E402
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware  # noqa: E402
from sentry_sdk.integrations.django import DjangoIntegration  # noqa: E402

from sessionhub.asgi import get_asgi_application  # noqa: E402

# No DSN: Sentry's integrations are installed, and nothing is sent anywhere.
sentry_sdk.init(dsn=None, integrations=[DjangoIntegration()])

application = SentryAsgiMiddleware(OpenTelemetryMiddleware(get_asgi_application()))
