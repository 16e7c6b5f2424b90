"""ASGI entry point of the reference project: ``config.asgi:application``."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from sessionhub.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
