"""Starlette and FastAPI hosts that mount Django, for the sessionhub.W007 check tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sentry_sdk.integrations.asgi
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.routing import Host, Mount

import sessionhub.asgi
from sessionhub.asgi import lifespan as sessionhub_lifespan

# Any: Starlette types ASGI apps with MutableMapping scopes, Django with dicts.
django_app: Any = sessionhub.asgi.get_asgi_application()


@asynccontextmanager
async def with_sessionhub(app: Any) -> AsyncIterator[dict[str, Any]]:
    """The README's pattern: the host's lifespan enters sessionhub's."""
    async with sessionhub.asgi.lifespan(django_app) as state:
        yield state


@asynccontextmanager
async def imported_by_name(app: Any) -> AsyncIterator[None]:
    async with sessionhub_lifespan(django_app):
        yield


@asynccontextmanager
async def own_only(app: Any) -> AsyncIterator[None]:
    """A lifespan of the host's own that forgets sessionhub's."""
    yield


def sessionhub_part() -> Any:
    return sessionhub.asgi.lifespan(django_app)


@asynccontextmanager
async def through_a_helper(app: Any) -> AsyncIterator[None]:
    async with sessionhub_part():
        yield


class ClassBased:
    """A lifespan written as a class whose __call__ gives the context manager."""

    def __call__(self, app: Any) -> Any:
        return sessionhub.asgi.lifespan(django_app)


def starlette(lifespan: Any = None, *routes: Any) -> Starlette:
    return Starlette(routes=list(routes) or [Mount("/django", app=django_app)], lifespan=lifespan)


def fastapi(lifespan: Any = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.mount("/django", django_app)
    return app


def fastapi_with_router(lifespan: Any) -> FastAPI:
    # FastAPI merges an included router's lifespan into the app's.
    app = FastAPI(lifespan=own_only)
    app.include_router(APIRouter(lifespan=lifespan))
    app.mount("/django", django_app)
    return app


without_lifespan = starlette()
with_lifespan = starlette(with_sessionhub)
by_name = starlette(imported_by_name)
own = starlette(own_only)
helper = starlette(through_a_helper)
class_based = starlette(ClassBased())
fastapi_without = fastapi()
fastapi_with = fastapi(with_sessionhub)
merged_with = fastapi_with_router(with_sessionhub)
merged_without = fastapi_with_router(own_only)
nested = starlette(None, Mount("/api", routes=[Mount("/v1", app=django_app)]))
on_host = starlette(None, Host("django.example.com", app=django_app))
wrapped = sentry_sdk.integrations.asgi.SentryAsgiMiddleware(starlette())
no_django = Starlette(routes=[Mount("/static", app=Starlette())])


@asynccontextmanager
async def nested_function(app: Any) -> AsyncIterator[None]:
    async def enter() -> Any:
        return sessionhub.asgi.lifespan(django_app)

    async with await enter():
        yield


def with_an_empty_cell() -> Any:
    never_set: None

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield never_set

    return lifespan
    never_set = None  # the closure's cell stays empty


in_nested_code = starlette(nested_function)
empty_cell = starlette(with_an_empty_cell())
