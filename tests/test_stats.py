"""``sessionhub.stats()``: each client's pool, counted through public hooks."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
import pytest
import uvloop
import yarl
from django.test import override_settings

import sessionhub
from sessionhub import metrics
from sessionhub.testing import override_client
from tests.upstream import Upstream
from tests.views import fetch_json

AIOHTTP = "sessionhub.factories.aiohttp_session"
HTTPX = "sessionhub.factories.httpx_client"


async def test_nothing_is_listed_before_a_client_is_built() -> None:
    assert sessionhub.stats() == {}


@pytest.mark.parametrize("factory", [AIOHTTP, HTTPX])
async def test_a_client_reports_its_limits_requests_and_connections(
    factory: str, upstream: Upstream
) -> None:
    options = {"FACTORY": factory, "LIMIT": 7, "LIMIT_PER_HOST": 3}
    with override_settings(SESSIONHUB={"default": options}):
        client = sessionhub.get()
    before = sessionhub.stats()["default"]
    await fetch_json(client, upstream.url)
    await fetch_json(client, upstream.url)
    after = sessionhub.stats()["default"]
    assert (before["in_use"], before["idle"]) == (0, 0)
    assert before["requests"] == {"sent": 0, "failed": 0, "shed": 0}
    # One connection, opened by the first request and reused by the second,
    # is back in the pool.
    assert (after["in_use"], after["idle"]) == (0, 1)
    assert after["connections"] == {"created": 1, "reused": 1, "closed": 0}
    assert after["requests"] == {"sent": 2, "failed": 0, "shed": 0}
    assert after["limit"] == 7
    assert after["closed"] is False
    if factory == AIOHTTP:
        assert after["type"] == "aiohttp.client.ClientSession"
        assert after["limit_per_host"] == 3
        assert after["waiting"] == 0
        assert after["pool_wait"] == {"count": 0, "total_s": 0.0, "max_s": 0.0}
    else:
        assert after["type"] == "httpx.AsyncClient"
        assert after["waiting"] is None  # httpx does not say
        assert after["pool_wait"]["count"] == 2  # every request's time to a connection


@pytest.mark.parametrize("factory", [AIOHTTP, HTTPX])
async def test_a_pool_of_one_counts_the_wait_of_a_second_concurrent_call(
    factory: str, upstream: Upstream
) -> None:
    options = {"FACTORY": factory, "LIMIT": 1, "LIMIT_PER_HOST": 1}
    with override_settings(SESSIONHUB={"default": options}):
        client = sessionhub.get()
    first = asyncio.create_task(fetch_json(client, upstream.url_for("/gate")))
    async with asyncio.timeout(10):
        while upstream.waiting < 1:
            await asyncio.sleep(0.01)
    second = asyncio.create_task(fetch_json(client, upstream.url))
    if factory == AIOHTTP:
        async with asyncio.timeout(10):
            while sessionhub.stats()["default"]["waiting"] < 1:
                await asyncio.sleep(0.01)
        assert sessionhub.stats()["default"]["in_use"] == 1
    upstream.release()
    await asyncio.gather(first, second)
    stats = sessionhub.stats()["default"]
    wait = stats["pool_wait"]
    assert stats["connections"]["created"] == 1  # the second call waited for the first's
    assert wait["max_s"] > 0 and wait["total_s"] >= wait["max_s"]
    if factory == AIOHTTP:
        assert wait["count"] == 1 and stats["waiting"] == 0
    else:
        assert wait["count"] == 2


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_connections_closed_are_counted_on_either_loop(loop: str, upstream: Upstream) -> None:
    # asyncio closes a connection's socket, uvloop detaches it: both are seen.
    async def main() -> dict[str, Any]:
        with override_settings(SESSIONHUB={"default": {"KEEPALIVE_TIMEOUT": 0.05}}):
            session = sessionhub.get()
        await fetch_json(session, upstream.url)
        pool = metrics.pool_of(session)
        assert pool is not None
        async with asyncio.timeout(10):  # the idle connection expires
            while pool.closed < 1:
                await asyncio.sleep(0.02)
        await fetch_json(session, upstream.url)
        await session.close()
        return sessionhub.stats()["default"]

    factory = uvloop.new_event_loop if loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        stats = runner.run(main())
    assert stats["connections"] == {"created": 2, "reused": 0, "closed": 2}
    assert (stats["in_use"], stats["idle"], stats["closed"]) == (0, 0, True)
    assert len(upstream.peers) == 2


async def test_httpx_connections_closed_are_counted_when_stats_are_read(
    upstream: Upstream,
) -> None:
    with override_settings(SESSIONHUB={"default": {"FACTORY": HTTPX}}):
        client = sessionhub.get()
    await fetch_json(client, upstream.url)
    assert sessionhub.stats()["default"]["idle"] == 1
    await client.aclose()
    stats = sessionhub.stats()["default"]
    assert stats["connections"] == {"created": 1, "reused": 0, "closed": 1}
    assert (stats["idle"], stats["closed"]) == (0, True)


async def test_failed_calls_are_counted_and_release_their_connection(upstream: Upstream) -> None:
    with override_settings(SESSIONHUB={"default": {"TIMEOUT": 0.2}}):
        session = sessionhub.get()
    with pytest.raises(TimeoutError):
        await fetch_json(session, upstream.url_for("/gate"))
    upstream.release()
    stats = sessionhub.stats()["default"]
    assert stats["requests"] == {"sent": 1, "failed": 1, "shed": 0}
    assert stats["in_use"] == 0


async def test_a_call_the_caller_traces_itself_is_left_to_it(upstream: Upstream) -> None:
    events: list[str] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        events.append(event)

    with override_settings(SESSIONHUB={"default": {"FACTORY": HTTPX}}):
        client: httpx.AsyncClient = sessionhub.get()
    response = await client.get(upstream.url, extensions={"trace": trace})
    assert response.status_code == 200
    assert "connection.connect_tcp.complete" in events
    assert sessionhub.stats()["default"]["requests"]["sent"] == 0


async def test_a_call_with_middlewares_of_its_own_is_not_counted(upstream: Upstream) -> None:
    # aiohttp's per-request middlewares= replaces the session's, sessionhub's
    # count included: the call is sent as usual, and not counted.
    session: aiohttp.ClientSession = sessionhub.get()
    async with session.get(upstream.url, middlewares=()) as response:
        assert (await response.json())["ok"] is True
    stats = sessionhub.stats()["default"]
    assert stats["requests"]["sent"] == 0
    assert stats["in_use"] == 0


async def test_httpx_failures_end_the_request(upstream: Upstream) -> None:
    with override_settings(SESSIONHUB={"default": {"FACTORY": HTTPX, "TIMEOUT": 0.2}}):
        client: httpx.AsyncClient = sessionhub.get()
    with pytest.raises(httpx.ReadTimeout):
        await client.get(upstream.url_for("/gate"))
    upstream.release()
    stats = sessionhub.stats()["default"]
    assert stats["requests"] == {"sent": 1, "failed": 1, "shed": 0}
    assert stats["in_use"] == 0


class Fake:
    async def aclose(self) -> None:
        pass


async def test_other_clients_report_their_type_and_overrides_are_listed() -> None:
    with override_settings(
        SESSIONHUB={"default": {}, "fake": {"FACTORY": "tests.test_stats.fake"}}
    ):
        sessionhub.get("fake")
        with override_client("default", lambda config: Fake()):
            sessionhub.get()
            stats = sessionhub.stats()
    # What get(name) returns on this loop: the override's client for "default".
    assert stats == {
        "default": {"type": "tests.test_stats.Fake"},
        "fake": {"type": "tests.test_stats.Fake"},
    }


def fake(config: Any) -> Fake:
    return Fake()


async def test_a_session_of_another_factory_reports_its_limits_only() -> None:
    def plain(config: Any) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    with override_client("default", plain):
        session = sessionhub.get()
        stats = sessionhub.stats()
        await session.close()  # and with it its connector
        closed = sessionhub.stats()
    assert stats == {
        "default": {
            "type": "aiohttp.client.ClientSession",
            "closed": False,
            "limit": 100,
            "limit_per_host": 0,
        }
    }
    assert closed == {"default": {"type": "aiohttp.client.ClientSession", "closed": True}}


async def test_a_session_closed_behind_sessionhub_s_back_says_so() -> None:
    session = sessionhub.get()
    await session.close()  # not something to do; stats() still answers
    stats = sessionhub.stats()["default"]
    assert stats["closed"] is True
    assert (stats["limit"], stats["limit_per_host"]) == (100, 50)


def test_a_pool_forgets_idle_origins_past_its_bound() -> None:
    pool = metrics.Pool("default", 100, 50, 10.0)
    busy = pool.origin(yarl.URL("http://127.0.0.1:1/"))
    busy.open = 1  # a connection still open: remembered
    for port in range(2, metrics.MAX_ORIGINS + 1):
        pool.origin(yarl.URL(f"http://127.0.0.1:{port}/"))
    assert len(pool.origins) == metrics.MAX_ORIGINS
    pool.origin(yarl.URL("https://example.com/"))
    assert list(pool.origins) == [("http", "127.0.0.1", 1), ("https", "example.com", 443)]
