"""``sessionhub.stats()``: what each client's connection pool is doing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sessionhub import compat, registry
from sessionhub.errors import describe

__all__ = ["stats"]


def stats() -> dict[str, dict[str, Any]]:
    """Describe each client ``get(name)`` returns on the running loop, by name.

    For an aiohttp session: its connector's ``limit`` and ``limit_per_host``,
    and the connections ``in_use`` (serving a request) and ``idle`` (pooled).
    For an httpx client: ``limit`` and the same counts. A count that cannot be
    read is ``None``. Other clients get their type only. Call it from async
    code; clients not built yet on this loop are not listed.
    """
    clients = registry.clients_of(asyncio.get_running_loop())
    return {name: _describe(client) for name, client in sorted(clients.items())}


def _describe(client: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"type": describe(type(client))}
    counts = compat.pool_counts(client)
    in_use, idle = counts if counts is not None else (None, None)
    if isinstance(client, aiohttp.ClientSession):
        described["closed"] = client.closed
        connector = client.connector
        if connector is not None:
            described.update(
                limit=connector.limit,
                limit_per_host=connector.limit_per_host,
                in_use=in_use,
                idle=idle,
            )
        return described
    closed = getattr(client, "is_closed", None)
    if isinstance(closed, bool):  # httpx
        described.update(closed=closed, limit=compat.pool_limit(client), in_use=in_use, idle=idle)
    return described
