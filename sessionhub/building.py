"""Building a client: the configured ``FACTORY`` (or a test override's) called on its loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from sessionhub import conf
from sessionhub.errors import UnknownClientError

__all__ = ["build", "type_name"]

logger = logging.getLogger("sessionhub")


def build(
    name: str,
    factory: Callable[[conf.ClientConfig], Any] | None,
    loop_name: str,
    level: int,
) -> Any:
    """Build client ``name`` on the running loop with ``factory``, or else its ``FACTORY``.

    Raises ``UnknownClientError`` for a name that is neither configured nor
    overridden, ``ImproperlyConfigured`` for a bad configuration, and
    ``TypeError`` for a factory whose result sessionhub could never close.
    """
    try:
        config = conf.client_config(name)
    except KeyError:
        if factory is None:
            raise UnknownClientError(
                f"sessionhub.get({name!r}): there is no client named {name!r}; the configured "
                f"clients are {', '.join(map(repr, conf.client_names())) or 'none'}. Add it to "
                "the SESSIONHUB setting, or fix the name."
            ) from None
        config = conf.ClientConfig(name=name)  # an override needs no configured client
    if factory is None:
        factory = import_string(config.factory)
    client = factory(config)
    if not callable(getattr(client, "aclose", None)) and not callable(
        getattr(client, "close", None)
    ):
        raise TypeError(
            f"the factory of sessionhub client {name!r} returned a {type_name(client)}, which "
            "has neither aclose() nor close(), so sessionhub could never close it."
        )
    logger.log(
        level,
        "created client %r (%s) (pid %d, loop %s)",
        name,
        type_name(client),
        os.getpid(),
        loop_name,
    )
    return client


def type_name(client: object) -> str:
    """The dotted name of ``client``'s type, for log lines and ``stats()``."""
    return f"{type(client).__module__}.{type(client).__qualname__}"
