"""The reference project with a lifespan_started receiver that always fails."""

from __future__ import annotations

from typing import Any

from config.asgi import application
from sessionhub.signals import lifespan_started

__all__ = ["application"]


def refuse_to_start(**kwargs: Any) -> None:
    raise RuntimeError("UPSTREAM_TOKEN is not set")


lifespan_started.connect(refuse_to_start)
