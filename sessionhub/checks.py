"""System checks for the ``SESSIONHUB`` setting and the ASGI application served."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.handlers.asgi import ASGIHandler
from django.utils.module_loading import import_string

from sessionhub import conf

__all__ = ["check_asgi_application", "check_settings"]


def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Report every problem of ``SESSIONHUB`` and the ``SESSIONHUB_*`` shutdown settings.

    It never raises, whatever the settings hold, and never shows a value that
    may be a secret.
    """
    messages: list[CheckMessage] = []
    for check_id, message, hint in conf.problems():
        kind = Error if check_id.startswith("sessionhub.E") else Warning
        messages.append(kind(message, hint=hint or None, id=check_id))
    return messages


def check_asgi_application(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the ASGI application the project serves runs no lifespan for sessionhub.

    Middleware that keeps the application as ``.app`` (or ``.inner``, as Channels'
    does) is looked through, and so are protocol routers that hold their
    applications in a mapping of scope types, like Channels' ``ProtocolTypeRouter``.
    """
    path = _asgi_application_path()
    if path is None:
        return []
    try:
        app = import_string(path)
    except ImportError:
        return []  # an ASGI server would say so with its own error
    app = _unwrap(app)
    routes = _protocol_routes(app)
    if routes is not None:
        return _check_router(path, routes)
    if _is_plain_django(app):
        return [
            Warning(
                f"The ASGI application {path} is Django's plain ASGIHandler, which ignores "
                "the ASGI lifespan: sessionhub's clients will only be closed when their event "
                "loop ends, and lifespan_started and lifespan_finished are never sent.",
                hint="Build it with sessionhub.asgi.get_asgi_application() instead of "
                "django.core.asgi.get_asgi_application().",
                id="sessionhub.W001",
            )
        ]
    return []  # lifespan-aware, or not Django's: it may run a lifespan of its own


def _check_router(path: str, routes: Mapping[str, object]) -> list[CheckMessage]:
    """W004/W005 for a protocol router: its ``"http"`` and ``"lifespan"`` routes."""
    from sessionhub.asgi import LifespanASGIHandler

    http = _unwrap(routes["http"])
    lifespan = _unwrap(routes["lifespan"]) if "lifespan" in routes else None
    if isinstance(lifespan, LifespanASGIHandler):
        return []
    if lifespan is not None and not _is_plain_django(lifespan):
        return []  # an application of its own runs the lifespan
    if _is_plain_django(http) or _is_plain_django(lifespan):
        return [
            Warning(
                f"The ASGI application {path} is a protocol router that routes to Django's "
                "plain ASGIHandler, which ignores the ASGI lifespan: lifespan_started and "
                "lifespan_finished are never sent, and sessionhub's clients are only closed "
                "when their event loop ends.",
                hint="Build the Django application with sessionhub.asgi.get_asgi_application() "
                "and route both 'http' and 'lifespan' to it.",
                id="sessionhub.W005",
            )
        ]
    if isinstance(http, LifespanASGIHandler):
        return [
            Warning(
                f"The ASGI application {path} is a protocol router whose 'http' application "
                "is sessionhub's LifespanASGIHandler, but it has no 'lifespan' route: servers "
                "see no lifespan support, lifespan_started and lifespan_finished are never "
                "sent, and sessionhub's clients are only closed when their event loop ends.",
                hint="Add 'lifespan': <the same handler> to the router's mapping, next to 'http'.",
                id="sessionhub.W004",
            )
        ]
    return []


def _unwrap(app: object) -> object:
    """The application inside middleware that keeps it as ``.app`` or ``.inner``."""
    for _ in range(10):  # a bound, in case a wrapper refers to itself
        if isinstance(app, ASGIHandler) or _protocol_routes(app) is not None:
            return app
        inner = getattr(app, "app", None) or getattr(app, "inner", None)
        if inner is None:
            return app
        app = inner
    return app


def _protocol_routes(app: object) -> Mapping[str, object] | None:
    """The mapping of scope types to applications that a protocol router holds, if any."""
    for value in getattr(app, "__dict__", {}).values():
        if isinstance(value, Mapping) and "http" in value:
            return value
    return None


def _is_plain_django(app: object) -> bool:
    from sessionhub.asgi import LifespanASGIHandler

    return isinstance(app, ASGIHandler) and not isinstance(app, LifespanASGIHandler)


def _asgi_application_path() -> str | None:
    """``ASGI_APPLICATION``, else ``<settings package>.asgi.application`` if that module exists."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if isinstance(path, str) and path:
        return path
    settings_module = getattr(settings, "SETTINGS_MODULE", None)
    if not settings_module:
        return None  # settings.configure(): no project package to look in
    package = settings_module.rpartition(".")[0]
    module = f"{package}.asgi" if package else "asgi"
    try:
        found = importlib.util.find_spec(module)
    except ImportError:
        return None
    return f"{module}.application" if found is not None else None
