"""ASGI applications for the sessionhub.W001 check tests."""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIHandler

from sessionhub.asgi import LifespanASGIHandler


class Wrapper:
    """Middleware of the common shape: it keeps the application as ``.app``."""

    def __init__(self, app: Any) -> None:
        self.app = app


async def other(scope: Any, receive: Any, send: Any) -> None:
    """An application that is not Django's (it may run a lifespan of its own)."""


plain = ASGIHandler()
wrapped_plain = Wrapper(Wrapper(plain))
lifespan_aware = LifespanASGIHandler()
wrapped_lifespan_aware = Wrapper(lifespan_aware)
cyclic = Wrapper(None)
cyclic.app = cyclic
