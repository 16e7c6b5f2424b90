"""Protocol routers for the sessionhub.W004 and W005 check tests, built with real Channels."""

from __future__ import annotations

from typing import Any

from channels.middleware import BaseMiddleware
from channels.routing import ProtocolTypeRouter
from django.core.handlers.asgi import ASGIHandler
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

from sessionhub.asgi import LifespanASGIHandler


async def websocket(scope: Any, receive: Any, send: Any) -> None:
    """Stands in for a Channels consumer."""


class Router:
    """A router of another library's making: applications in a mapping of scope types."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes


aware = LifespanASGIHandler()
plain = ASGIHandler()

# The pattern the README documents.
with_lifespan = ProtocolTypeRouter({"http": aware, "lifespan": aware, "websocket": websocket})
# Channels' documented asgi.py with sessionhub's handler: no lifespan route.
without_lifespan = ProtocolTypeRouter({"http": aware, "websocket": websocket})
# Channels' documented asgi.py as is.
plain_http = ProtocolTypeRouter({"http": plain, "websocket": websocket})
plain_lifespan = ProtocolTypeRouter({"http": aware, "lifespan": plain})
# Middleware around the router, and Channels middleware (.inner) around the handler.
wrapped_without_lifespan = SentryAsgiMiddleware(
    ProtocolTypeRouter({"http": BaseMiddleware(aware), "websocket": websocket})
)
wrapped_plain_http = Router({"http": BaseMiddleware(BaseMiddleware(plain))})
# Another application answers the lifespan: it may run one of its own.
own_lifespan = ProtocolTypeRouter({"http": plain, "lifespan": websocket})
# Not Django behind "http" at all.
not_django = ProtocolTypeRouter({"http": websocket, "websocket": websocket})
# Sentry's and OpenTelemetry's middleware, as the README composes them.
observed = SentryAsgiMiddleware(OpenTelemetryMiddleware(aware))
observed_plain = SentryAsgiMiddleware(OpenTelemetryMiddleware(plain))
