"""System checks for the ``SESSIONHUB`` setting and the ASGI application served."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
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
    """Warn when the project serves Django's plain ASGI handler, which has no lifespan."""
    path = _asgi_application_path()
    if path is None:
        return []
    try:
        app = import_string(path)
    except ImportError:
        return []  # an ASGI server would say so with its own error
    handler = _django_handler(app)
    from sessionhub.asgi import LifespanASGIHandler

    if handler is None or isinstance(handler, LifespanASGIHandler):
        return []  # lifespan-aware, or not Django's: it may run a lifespan of its own
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


def _django_handler(app: object) -> ASGIHandler | None:
    """The Django handler in ``app``, looking through middleware that keeps it as ``.app``."""
    for _ in range(10):  # a bound, in case a wrapper refers to itself
        if isinstance(app, ASGIHandler):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


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
