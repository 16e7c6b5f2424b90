"""``sessionhub.stats()``: what each client's connection pool is doing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sessionhub import metrics, registry
from sessionhub.errors import describe

__all__ = ["stats"]


def stats() -> dict[str, dict[str, Any]]:
    """Describe each client ``get(name)`` returns on the running loop, by name.

    Its ``type`` and whether it is ``closed``; its ``limit`` (and an aiohttp
    session's ``limit_per_host``); the connections ``in_use`` (serving a
    request until its response's head is in) and ``idle`` (pooled), and the
    requests ``waiting`` for one now; since it was built, its ``requests``
    (``sent``, ``failed``, ``shed``: refused at once), its ``connections``
    (``created``, ``reused``, ``closed``), and its ``pool_wait`` (``count``,
    ``total_s``, ``max_s``). Counts come from the hooks sessionhub's factories
    install: a client built by another factory reports its type, ``closed``
    and limits only. Call it from async code; clients not built yet on this
    loop are not listed.
    """
    clients = registry.clients_of(asyncio.get_running_loop())
    return {name: _describe(client) for name, client in sorted(clients.items())}


def _describe(client: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"type": describe(type(client))}
    pool = metrics.pool_of(client)
    if isinstance(client, aiohttp.ClientSession):
        described["closed"] = client.closed
        limits = client.connector or pool  # a closed session has no connector
        if limits is not None:
            described.update(limit=limits.limit, limit_per_host=limits.limit_per_host)
    elif isinstance(getattr(client, "is_closed", None), bool):  # httpx
        described["closed"] = client.is_closed
    if pool is None:
        return described
    pool.sweep()
    in_use = pool.all.active
    described.setdefault("limit", pool.limit)
    described.update(
        in_use=in_use,
        idle=max(pool.open - in_use, 0),
        # httpx does not say when a request waits.
        waiting=pool.all.waiting if isinstance(client, aiohttp.ClientSession) else None,
        requests={"sent": pool.requests, "failed": pool.failed, "shed": pool.shed},
        connections={"created": pool.created, "reused": pool.reused, "closed": pool.closed},
        pool_wait={
            "count": pool.waits,
            "total_s": round(pool.wait_seconds, 6),
            "max_s": round(pool.longest_wait, 6),
        },
    )
    return described
