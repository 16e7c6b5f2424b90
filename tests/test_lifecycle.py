"""Lifespans per loop (sessionhub.lifecycle): overlap, and the loop after the last one."""

from __future__ import annotations

import asyncio
from typing import Any

import sessionhub
from sessionhub.asgi import lifespan
from sessionhub.testing import override_client
from tests.lifecycle_clients import SlowClose
from tests.upstream import Upstream


async def fetch(url: str) -> dict[str, Any]:
    async with sessionhub.get().get(url) as response:
        body: dict[str, Any] = await response.json()
        return body


async def test_after_a_lifespan_the_loop_is_as_before_any(upstream: Upstream) -> None:
    async with lifespan():
        during = sessionhub.get()
    assert during.closed
    after = sessionhub.get()  # the same rule, whoever drove the lifespan
    assert after is not during and not after.closed
    assert (await fetch(upstream.url))["ok"] is True
    # A next lifespan on the loop closes what was opened in between.
    async with lifespan():
        assert sessionhub.get() is after
    assert after.closed


async def test_overlapping_lifespans_close_only_when_the_last_ends() -> None:
    async with lifespan():
        first = sessionhub.get()
        async with lifespan():
            assert sessionhub.get() is first
        assert not first.closed  # the outer lifespan still runs
        assert sessionhub.get() is first
    assert first.closed


async def test_a_lifespan_that_ends_never_closes_a_later_lifespans_clients() -> None:
    clients: list[SlowClose] = []

    async def first() -> None:
        async with lifespan():
            clients.append(sessionhub.get("slow"))

    with override_client("slow", SlowClose):
        ending = asyncio.create_task(first())
        async with asyncio.timeout(5):
            while not clients:
                await asyncio.sleep(0)
            await clients[0].closing.wait()  # the first lifespan is closing its client
        async with lifespan():
            new = sessionhub.get("slow")
            assert new is not clients[0]
            clients[0].release.set()
            await ending
            assert clients[0].closed and not new.closed
            assert sessionhub.get("slow") is new
            new.release.set()
        assert new.closed
