"""sessionhub.get() on loops that have no ASGI lifespan: every session still closes."""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

import aiohttp
import pytest
from django.test import Client, SimpleTestCase, override_settings

import sessionhub
from tests.helpers import open_sessions
from tests.upstream import Upstream, running_upstream


def test_sync_client_runs_each_async_view_on_its_own_loop(
    upstream: Upstream, settings: Any
) -> None:
    settings.DEMO_UPSTREAM_URL = upstream.url
    client = Client()
    bodies = [client.get("/").json() for _ in range(5)]
    assert [b["upstream"]["n"] for b in bodies] == [1, 2, 3, 4, 5]
    # async_to_sync ran every request in a fresh loop, so every request had a
    # fresh session (and connection), and each was closed with its loop.
    assert len(upstream.peers) == 5
    assert open_sessions() == []


class TestWithDjangoTestCase(SimpleTestCase):
    def test_sync_client(self) -> None:
        with running_upstream() as upstream, override_settings(DEMO_UPSTREAM_URL=upstream.url):
            response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(open_sessions(), [])

    async def test_async_client(self) -> None:
        # Django runs async test methods through async_to_sync: a new loop.
        with running_upstream() as upstream, override_settings(DEMO_UPSTREAM_URL=upstream.url):
            first = (await self.async_client.get("/")).json()
            second = (await self.async_client.get("/")).json()
        self.assertEqual(first["session"], second["session"])
        self.assertEqual(len(upstream.peers), 1)


class TestIsolatedAsyncio(unittest.IsolatedAsyncioTestCase):
    # Each test method gets a loop of its own; whichever runs second checks
    # that the first one's session was closed with its loop.
    sessions: list[aiohttp.ClientSession] = []
    upstream: Upstream

    @classmethod
    def setUpClass(cls) -> None:
        cls.upstream = cls.enterClassContext(running_upstream())

    async def _use(self) -> None:
        session = sessionhub.get()
        async with session.get(self.upstream.url) as response:
            self.assertEqual(response.status, 200)
        self.assertTrue(all(earlier.closed for earlier in self.sessions))
        self.assertNotIn(session, self.sessions)
        self.sessions.append(session)

    async def test_first(self) -> None:
        await self._use()

    async def test_second(self) -> None:
        await self._use()


_pytest_asyncio_sessions: list[aiohttp.ClientSession] = []


@pytest.mark.parametrize("round", range(3))
async def test_pytest_asyncio_function_loops(upstream: Upstream, round: int) -> None:
    session = sessionhub.get()
    async with session.get(upstream.url) as response:
        assert response.status == 200
    # Earlier rounds ran on loops that are gone: their sessions are closed.
    assert all(s.closed for s in _pytest_asyncio_sessions)
    assert session not in _pytest_asyncio_sessions
    _pytest_asyncio_sessions.append(session)


def test_management_command_style_asyncio_run(upstream: Upstream) -> None:
    async def command() -> int:
        results = await asyncio.gather(*(fetch_status(upstream.url) for _ in range(50)))
        return sum(status == 200 for status in results)

    assert asyncio.run(command()) == 50
    assert open_sessions() == []


async def fetch_status(url: str) -> int:
    async with sessionhub.get().get(url) as response:
        status: int = response.status
        return status
