"""Views whose upstream call is refused at once, for OverloadMiddleware's tests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from sessionhub.errors import PoolOverloadedError


def refused(request: HttpRequest) -> HttpResponse:
    raise PoolOverloadedError("the pool is full", retry_after=7)


async def refused_async(request: HttpRequest) -> HttpResponse:
    raise PoolOverloadedError("the pool is full", retry_after=3)


async def broken(request: HttpRequest) -> HttpResponse:
    raise ValueError("not an overload")


async def fine(request: HttpRequest) -> HttpResponse:
    return HttpResponse("fine")


urlpatterns = [
    path("refused/", refused),
    path("refused-async/", refused_async),
    path("broken/", broken),
    path("fine/", fine),
]
