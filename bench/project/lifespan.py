"""The peer's way: a lifespan context manager whose state views read from ``request.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from bench.client import new_session

__all__ = ["SESSION_KEY", "aiohttp_session_state"]

SESSION_KEY = "aiohttp_session"


@asynccontextmanager
async def aiohttp_session_state() -> AsyncIterator[MutableMapping[str, Any]]:
    """Open the worker's session at lifespan startup, close it at shutdown."""
    session = new_session()
    try:
        yield {SESSION_KEY: session}
    finally:
        await session.close()
