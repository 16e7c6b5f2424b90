"""Where Django's handler sits in the ASGI application a project serves, for the checks.

Looked through: middleware that keeps the application it wraps (``.app``,
Channels' ``.inner``, Django's static files handler's ``.application``);
protocol routers that keep applications in a mapping of scope types
(Channels' ``ProtocolTypeRouter``); and Starlette or FastAPI hosts, whose
``Mount`` and ``Host`` routes pass no lifespan on to what they mount. No
application is called: only attributes and code are read.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.handlers.asgi import ASGIHandler

# Bounds on what is looked through, in case an application refers to itself.
_DEPTH = 10
_CALLABLES = 200


def unwrap(app: object) -> object:
    """The application inside middleware that keeps it as ``.app``, ``.inner`` or
    ``.application``; a handler, router or host is not looked into."""
    for _ in range(_DEPTH):
        if isinstance(app, ASGIHandler) or routes(app) is not None or router(app) is not None:
            return app
        inner = next((getattr(app, name) for name in _WRAPPED if getattr(app, name, None)), None)
        if inner is None:
            return app
        app = inner
    return app


_WRAPPED = ("app", "inner", "application")


def routes(app: object) -> Mapping[str, object] | None:
    """The mapping of scope types to applications that a protocol router holds, if any."""
    for value in getattr(app, "__dict__", {}).values():
        if isinstance(value, Mapping) and "http" in value:
            return value
    return None


def router(app: object) -> Any:
    """The Starlette router of a Starlette or FastAPI application (or the router itself)."""
    found = getattr(app, "router", app)
    has_routes = isinstance(getattr(found, "routes", None), list)
    return found if has_routes and hasattr(found, "lifespan_context") else None


def mounted(host: Any, depth: int = 0) -> Iterator[tuple[str, object]]:
    """(path, application) of each Django handler that ``host``'s routes mount."""
    for route in host.routes if depth < _DEPTH else ():
        app = unwrap(getattr(route, "app", None))
        path = getattr(route, "path", "") or getattr(route, "host", "")
        if isinstance(app, ASGIHandler):
            yield path, app
        elif (inner := router(app)) is not None:
            yield from ((path + sub, found) for sub, found in mounted(inner, depth + 1))


def enters_sessionhub_lifespan(host: Any) -> bool:
    """Whether the host's lifespan (or a startup handler) refers to sessionhub's ``lifespan``.

    Read from the code of the lifespan, of what it wraps or closes over, and of
    the functions it calls by their global names; a lifespan that reaches it in
    another way (an attribute of an object) is not seen.
    """
    todo = [host.lifespan_context, *getattr(host, "on_startup", ())]
    seen: set[int] = set()
    while todo and len(seen) < _CALLABLES:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if _is_sessionhub_lifespan(item) or _reads_it_off_sessionhub(item):
            return True
        todo += _parts(item)
    return False


def _is_sessionhub_lifespan(item: object) -> bool:
    module = getattr(item, "__module__", None) or ""
    return module.startswith("sessionhub.") and getattr(item, "__name__", None) == "lifespan"


def _reads_it_off_sessionhub(item: object) -> bool:
    # sessionhub.asgi.lifespan(...): a sessionhub module and the name in one code object.
    if not isinstance(item, types.FunctionType):
        return False
    for code in _codes(item.__code__):
        modules = [item.__globals__.get(name) for name in code.co_names]
        if "lifespan" in code.co_names and any(
            isinstance(module, types.ModuleType) and module.__name__.startswith("sessionhub")
            for module in modules
        ):
            return True
    return False


def _parts(item: object) -> list[object]:
    """What a callable is made of: what it wraps, its closure, the functions it calls."""
    parts = [getattr(item, name, None) for name in ("__wrapped__", "func", "__func__")]
    if isinstance(item, types.FunctionType):
        parts += [cell.cell_contents for cell in item.__closure__ or () if _filled(cell)]
        for code in _codes(item.__code__):
            named = [item.__globals__.get(name) for name in code.co_names]
            parts += [value for value in named if isinstance(value, types.FunctionType)]
    else:
        # A callable object or a class-based lifespan: its methods.
        kind = item if isinstance(item, type) else type(item)
        parts += [getattr(kind, name, None) for name in ("__call__", "__aenter__")]
    return [part for part in parts if callable(part) and part is not item]


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
