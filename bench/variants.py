"""The variants under test: where a view gets its aiohttp session from."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BARE", "LOCAL", "MODULE_GLOBAL", "PEER", "PER_REQUEST", "REMOTE", "SESSIONHUB"]


@dataclass(frozen=True)
class Variant:
    """One way to get a session, served by its own uvicorn process."""

    key: str
    label: str
    # uvicorn --factory target, and the path wrk requests.
    factory: str
    path: str


PER_REQUEST = Variant(
    "per-request", "session per request", "bench.project.asgi:django", "/per-request/"
)
MODULE_GLOBAL = Variant(
    "module-global", "module-global session", "bench.project.asgi:django", "/module-global/"
)
SESSIONHUB = Variant(
    "sessionhub", "sessionhub.get()", "bench.project.asgi:sessionhub", "/sessionhub/"
)
PEER = Variant(
    "django-asgi-lifespan",
    "django-asgi-lifespan request.state",
    "bench.project.asgi:django_asgi_lifespan",
    "/django-asgi-lifespan/",
)
BARE = Variant("bare-asgi", "bare ASGI app, no Django (ceiling)", "bench.bare:create_app", "/")

# In the order every round runs them.
LOCAL = (PER_REQUEST, MODULE_GLOBAL, SESSIONHUB, PEER, BARE)
REMOTE = (PER_REQUEST, MODULE_GLOBAL, SESSIONHUB)
