"""Clients for the lifecycle tests."""

from __future__ import annotations

import asyncio


class SlowClose:
    """A client whose close waits for the test, during which another lifespan starts."""

    def __init__(self, config: object) -> None:
        self.closed = False
        self.closing = asyncio.Event()
        self.release = asyncio.Event()

    async def aclose(self) -> None:
        self.closing.set()
        await self.release.wait()
        self.closed = True
