"""``sessionhub.stats()``: what each client's connection pool is doing."""

from __future__ import annotations

from typing import Any

import aiohttp

from sessionhub import hub

__all__ = ["stats"]


def stats() -> dict[str, dict[str, Any]]:
    """Describe each configured client built on the running loop, by name.

    For an aiohttp session: its connector's ``limit`` and ``limit_per_host``,
    and the connections ``in_use`` (serving a request) and ``idle`` (pooled).
    For an httpx client: ``limit`` and the same counts. Other clients get
    their type only. Call it from async code; clients not built yet on this
    loop are not listed.
    """
    return {name: _describe(client) for name, client in sorted(hub._clients().items())}


def _describe(client: Any) -> dict[str, Any]:
    kind = type(client)
    described: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(client, aiohttp.ClientSession):
        described["closed"] = client.closed
        connector = client.connector
        if connector is not None:
            # aiohttp offers the limits publicly but not the counts; read them
            # from the connector's pools, defensively.
            pools = getattr(connector, "_conns", {})
            described.update(
                limit=connector.limit,
                limit_per_host=connector.limit_per_host,
                in_use=len(getattr(connector, "_acquired", ())),
                idle=sum(len(pool) for pool in pools.values()),
            )
        return described
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    connections = getattr(pool, "connections", None)
    if isinstance(connections, list):  # httpx's httpcore pool
        described["closed"] = bool(getattr(client, "is_closed", False))
        described.update(
            limit=getattr(pool, "_max_connections", None),
            in_use=sum(1 for c in connections if not c.is_idle()),
            idle=sum(1 for c in connections if c.is_idle()),
        )
    return described
