"""Building a client: its factory called on the running loop, and what it returned checked."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.utils.module_loading import import_string

from sessionhub.errors import describe

__all__ = ["build"]

logger = logging.getLogger("sessionhub")


class Config(Protocol):
    """What building reads of a ``ClientConfig``."""

    @property
    def name(self) -> str: ...
    @property
    def factory(self) -> str: ...


C = TypeVar("C", bound=Config)


def build(config: C, factory: Callable[[C], Any] | None, loop: str, level: int) -> Any:
    """Build client ``config.name`` with ``factory`` (a test override's), else its ``FACTORY``.

    ``config`` is its ``ClientConfig``; ``loop`` names the loop in the log line.
    Raises ``TypeError`` for a client that sessionhub could never close.
    """
    client = (factory or import_string(config.factory))(config)
    kind = describe(type(client))
    if not any(callable(getattr(client, method, None)) for method in ("aclose", "close")):
        raise TypeError(
            f"the factory of sessionhub client {config.name!r} returned a {kind}, which has "
            "neither aclose() nor close(), so sessionhub could never close it."
        )
    logger.log(
        level, "created client %r (%s) (pid %d, loop %s)", config.name, kind, os.getpid(), loop
    )
    return client
