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
from sessionhub.errors import docs_url, hint_for

__all__ = ["CHECKS", "check_asgi_application", "check_settings"]

#: Every check id and what it reports. The checks reference of the documentation
#: is made from this table, and each message's hint links to its id's section.
CHECKS = {
    "sessionhub.E001": "SESSIONHUB, or a client's options, is not a dict, or a client name is "
    "not a str.",
    "sessionhub.E002": "An unknown option name, with the closest valid one.",
    "sessionhub.E003": "An option of the wrong type.",
    "sessionhub.E004": "A FACTORY that does not import (with the error it raised, or the extra "
    "that installs a missing dependency), or is not callable.",
    "sessionhub.E005": "A BASE_URL that is not an absolute http(s):// URL with a host and a valid "
    "port, ending in /, without credentials, query string or fragment.",
    "sessionhub.E006": '"default" is not one of the configured clients (SESSIONHUB = {} too).',
    "sessionhub.E007": "A value out of range: a timeout not greater than 0 or above a day (inf "
    "and nan too), a count below 0 or above 1,000,000, an unknown COOKIES mode, a CA_BUNDLE "
    "that does not exist or does not load as PEM certificates.",
    "sessionhub.E008": "An OPTIONS keyword that the client of a ready factory "
    "(aiohttp.ClientSession, httpx.AsyncClient) does not take.",
    "sessionhub.E009": "A SESSIONHUB_*_TIMEOUT or SESSIONHUB_DRAIN_SECONDS setting that is not a "
    "number of seconds in range (at most 3600), or a SESSIONHUB_MAX_REQUESTS_IN_FLIGHT that is "
    "not a whole number from 0 to 1,000,000.",
    "sessionhub.E010": "A HEADERS name or value that HTTP does not allow (a line break, a control "
    "character, a space at either end, non-ASCII).",
    "sessionhub.E011": "An ALLOWED_ORIGINS entry that is not an origin (scheme://host[:port]) "
    'or "*".',
    "sessionhub.W001": "The ASGI application served (ASGI_APPLICATION, else application or app "
    "in the settings package's asgi.py) is Django's plain ASGIHandler: no lifespan runs, and "
    "clients close only when their loop ends. Middleware that keeps the handler as .app, .inner "
    "or .application is looked through.",
    "sessionhub.W002": "VERIFY = False.",
    "sessionhub.W003": "CA_BUNDLE set together with VERIFY = False, which ignores it.",
    "sessionhub.W004": "The ASGI application is a protocol router (Channels' ProtocolTypeRouter, "
    "or any router keeping its applications in a mapping of scope types) whose 'http' "
    "application is sessionhub's handler, with no 'lifespan' route: servers see no lifespan "
    "support.",
    "sessionhub.W005": "Such a router routes 'http' (with no 'lifespan' route) or 'lifespan' to "
    "Django's plain ASGIHandler.",
    "sessionhub.W006": "HEADERS on a client with neither BASE_URL nor ALLOWED_ORIGINS, which "
    'sends them to any origin the code calls (ALLOWED_ORIGINS = ["*"] says that is intended).',
    "sessionhub.W007": "A Starlette or FastAPI application whose Mount or Host routes reach "
    "Django's handler, and whose lifespan= does not enter sessionhub.asgi.lifespan(): a Mount "
    "passes no lifespan on. The check reads the code of the host's lifespan (what it wraps, "
    "closes over and calls by global name); it calls nothing.",
    "sessionhub.W008": "Importing the ASGI application raised (an asgi.py that reads a variable "
    "only production has, or calls sys.exit): the message names the module, the exception and "
    "the line that raised it.",
}
_COMPOSING = docs_url("guide/composing", "hosted-by-fastapi-or-starlette")


def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Report every problem of ``SESSIONHUB`` and the ``SESSIONHUB_*`` shutdown settings.

    It never raises, whatever the settings hold, and never shows a value that
    may be a secret.
    """
    messages: list[CheckMessage] = []
    for check_id, message, hint in conf.shutdown_problems() + options.problems():
        kind = Error if check_id.startswith("sessionhub.E") else Warning
        messages.append(kind(message, hint=hint_for(check_id, hint), id=check_id))
    return messages


def check_asgi_application(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the ASGI application the project serves runs no lifespan for sessionhub.

    A deployment check (``check --deploy``): it imports the application, whose
    module may have side effects, so other management commands leave it alone.
    Whatever the import raises becomes a warning (``sessionhub.W008``).
    """
    messages = _check_application()
    for message in messages:
        message.hint = hint_for(str(message.id), message.hint or "")
    return messages


def _check_application() -> list[CheckMessage]:
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
            f"host's lifespan= ({_COMPOSING}). If its lifespan "
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
