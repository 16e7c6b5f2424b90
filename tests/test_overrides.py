"""Test overrides (sessionhub.overrides): what they build is closed, on its own loop."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

import sessionhub
from sessionhub.asgi import lifespan
from sessionhub.testing import open_clients, override_client
from tests.lifecycle_clients import SlowClose
from tests.upstream import Upstream


async def fetch(url: str) -> dict[str, Any]:
    async with sessionhub.get().get(url) as response:
        body: dict[str, Any] = await response.json()
        return body


async def default_session() -> aiohttp.ClientSession:
    session: aiohttp.ClientSession = sessionhub.get()
    return session


def test_ending_an_override_just_before_the_loop_ends_closes_its_client(
    upstream: Upstream,
) -> None:
    # asyncio.run cancels every task before it winds the loop down: the close
    # the override handed to its loop must still happen, with a connection
    # the upstream keeps alive.
    async def main() -> aiohttp.ClientSession:
        with override_client("default", lambda config: aiohttp.ClientSession()):
            await fetch(upstream.url)
            session: aiohttp.ClientSession = sessionhub.get()
        return session

    for _ in range(5):
        session = asyncio.run(main())
        assert session.closed
    assert len(upstream.peers) == 5
    assert open_clients() == []


async def test_ending_an_override_closes_what_it_built_on_a_long_loop() -> None:
    built: list[aiohttp.ClientSession] = []

    def factory(config: Any) -> aiohttp.ClientSession:
        built.append(aiohttp.ClientSession())
        return built[-1]

    real = sessionhub.get()
    for _ in range(30):
        with override_client("default", factory):
            assert sessionhub.get() is built[-1]
        async with asyncio.timeout(5):  # closing is handed to the loop; let it run
            while not built[-1].closed:
                await asyncio.sleep(0)
    assert [entry.client for entry in open_clients()] == [real]


def test_an_override_ended_outside_its_loop_is_closed_by_that_loop() -> None:
    built: list[aiohttp.ClientSession] = []

    async def use() -> None:
        built.append(sessionhub.get())

    with asyncio.Runner() as runner:
        override = override_client("default", lambda config: aiohttp.ClientSession())
        override.enable()
        runner.run(use())
        override.disable()  # the loop is not running now
        assert not built[0].closed
        assert [entry.retiring for entry in open_clients()] == [True]
        runner.run(asyncio.sleep(0.05))  # it runs again: the close is done there
        assert built[0].closed
    assert open_clients() == []


async def test_an_override_ended_just_before_its_loops_lifespan_ends_is_closed_once() -> None:
    async with lifespan():
        with override_client("default", lambda config: aiohttp.ClientSession()):
            session = sessionhub.get()
    assert session.closed
    await asyncio.sleep(0)  # the close the override handed the loop finds nothing


async def test_the_end_of_a_lifespan_waits_for_an_override_close_in_progress() -> None:
    async with lifespan():
        with override_client("slow", SlowClose):
            slow = sessionhub.get("slow")
        await slow.closing.wait()  # the override's close has begun, and waits
        asyncio.get_running_loop().call_later(0.05, slow.release.set)
    assert slow.closed


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_override_of_a_loop_closed_without_cleanup_is_left_to_be_forgotten() -> None:
    loop = asyncio.new_event_loop()
    override = override_client("default", lambda config: aiohttp.ClientSession())
    override.enable()
    loop.run_until_complete(default_session())
    loop.close()  # without shutdown_asyncgens(): nothing can close its clients now
    override.disable()  # schedules nothing on the closed loop
    asyncio.run(default_session())  # a new loop sweeps the closed one away
    assert open_clients() == []
