"""System checks for the sessionhub settings and the ASGI application served."""

from __future__ import annotations

import importlib
import importlib.util
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.handlers.asgi import ASGIHandler

from sessionhub import conf, hosting, options

__all__ = ["check_asgi_application", "check_settings"]

_README = "README, Composing"


def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Report every problem of ``SESSIONHUB`` and the ``SESSIONHUB_*`` shutdown settings.

    It never raises, whatever the settings hold, and never shows a value that
    may be a secret.
    """
    messages: list[CheckMessage] = []
    for check_id, message, hint in conf.shutdown_problems() + options.problems():
        kind = Error if check_id.startswith("sessionhub.E") else Warning
        messages.append(kind(message, hint=hint or None, id=check_id))
    return messages


def check_asgi_application(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the ASGI application the project serves runs no lifespan for sessionhub.

    A deployment check (``check --deploy``): it imports the application, whose
    module may have side effects, so other management commands leave it alone.
    Whatever the import raises becomes a warning (``sessionhub.W008``).
    """
    found = _application()
    if not isinstance(found, tuple):
        return [found] if found is not None else []
    path, app = found
    app = hosting.unwrap(app)
    if (routes := hosting.routes(app)) is not None:
        return _check_router(path, routes)
    if (host := hosting.router(app)) is not None:
        return _check_host(path, host)
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

    http = hosting.unwrap(routes["http"])
    lifespan = hosting.unwrap(routes["lifespan"]) if "lifespan" in routes else None
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


def _check_host(path: str, host: object) -> list[CheckMessage]:
    """W007 for a Starlette or FastAPI host that mounts Django without sessionhub's lifespan."""
    mounts = [mount for mount, _ in hosting.mounted(host)]
    if not mounts or hosting.enters_sessionhub_lifespan(host):
        return []
    return [
        Warning(
            f"The ASGI application {path} mounts Django (at {', '.join(map(repr, mounts))}) "
            "in a Starlette or FastAPI application whose lifespan does not run sessionhub's: "
            "a Mount passes no lifespan on, so lifespan_started and lifespan_finished are "
            "never sent, and sessionhub's clients are only closed when their event loop ends.",
            hint="Enter sessionhub.asgi.lifespan(<the mounted Django application>) in the "
            f"host's lifespan= ({_README}, Hosted by FastAPI or Starlette). If its lifespan "
            "reaches it in a way this check cannot see, silence sessionhub.W007.",
            id="sessionhub.W007",
        )
    ]


def _is_plain_django(app: object) -> bool:
    from sessionhub.asgi import LifespanASGIHandler

    return isinstance(app, ASGIHandler) and not isinstance(app, LifespanASGIHandler)


def _application() -> tuple[str, object] | CheckMessage | None:
    """(dotted path, application) of ``ASGI_APPLICATION``, else of ``application`` (or
    ``app``) in the settings package's ``asgi`` module; W008 if importing it fails."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if isinstance(path, str) and path:
        module, _, name = path.rpartition(".")
        names = [name]
    else:
        settings_module = getattr(settings, "SETTINGS_MODULE", None)
        if not settings_module:
            return None  # settings.configure(): no project package to look in
        package = settings_module.rpartition(".")[0]
        module, names = f"{package}.asgi" if package else "asgi", ["application", "app"]
        if _spec_origin(module) is None:
            return None
    try:
        loaded = importlib.import_module(module)
        found = [name for name in names if hasattr(loaded, name)]
        if not found and len(names) > 1:
            return None  # an asgi module without an application: nothing to judge
        return f"{module}.{(found or names)[0]}", getattr(loaded, (found or names)[0])
    except (Exception, SystemExit) as exc:
        return _not_imported(module, exc)


def _not_imported(module: str, exc: BaseException) -> CheckMessage:
    try:
        error = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    except Exception:
        error = ""
    frames = traceback.extract_tb(exc.__traceback__)
    spec = _spec_origin(module)
    where = [f for f in frames if f.filename == spec]
    at = f", at line {where[-1].lineno} of {spec}" if where else ""
    return Warning(
        f"The ASGI application's module {module} could not be imported to check it: "
        f"{type(exc).__name__}{': ' + error if error else ''}{at}.",
        hint="A server would fail the same way. If the module needs what only production "
        "has (an environment variable, a service), run check --deploy where it has that; "
        "until then sessionhub cannot tell whether the application runs its lifespan.",
        id="sessionhub.W008",
    )


def _spec_origin(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # its package may fail to import too
        return None
    return spec.origin if spec is not None else None
