"""A project's asgi.py that reads what only production has, as many do."""

from __future__ import annotations

import os

from sessionhub.asgi import get_asgi_application

REDIS_URL = os.environ["SESSIONHUB_TESTS_REDIS_URL"]

application = get_asgi_application()
