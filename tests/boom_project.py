"""The reference project with one view that raises: its settings module and URLconf in one.

Run as ``DJANGO_SETTINGS_MODULE=tests.boom_project`` to see what the
reference logging does with a server error.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.boom_project"


async def boom(request: HttpRequest) -> HttpResponse:
    """A bug in a view."""
    raise RuntimeError("boom: a bug in a view")


urlpatterns = [path("boom/", boom), path("", include("config.urls"))]
