"""The ASGI applications of the Django variants, as factories for ``uvicorn --factory``.

The handlers differ only in how they answer lifespan messages; every request
goes through the same Django request handling.
"""

from __future__ import annotations

import os

from django.core.handlers.asgi import ASGIHandler

__all__ = ["django", "django_asgi_lifespan", "sessionhub"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.project.settings")


def django() -> ASGIHandler:
    """Django's own handler, as a project without a lifespan-aware one serves."""
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def sessionhub() -> ASGIHandler:
    """sessionhub's lifespan-aware handler."""
    from sessionhub.asgi import get_asgi_application

    return get_asgi_application()


def django_asgi_lifespan() -> ASGIHandler:
    """The peer package's lifespan-aware handler."""
    from django_asgi_lifespan.asgi import get_asgi_application

    handler: ASGIHandler = get_asgi_application()
    return handler
