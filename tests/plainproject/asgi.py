"""A project's asgi.py that serves Django's plain handler (for sessionhub.W001)."""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler

application = ASGIHandler()
