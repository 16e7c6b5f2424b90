"""A project's asgi.py that names its host ``app``, as uvicorn's examples do."""

from __future__ import annotations

from tests.checks_hosts import starlette

app = starlette()
