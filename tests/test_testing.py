"""sessionhub.testing and the pytest plugin, used the way the README shows them."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from django.test import AsyncClient, SimpleTestCase, override_settings

import sessionhub
from sessionhub import options
from sessionhub.signals import lifespan_finished, lifespan_started
from sessionhub.testing import LifespanFailedError, lifespan, open_clients, override_client
from tests.helpers import connected
from tests.upstream import Upstream
from tests.views import fetch_json

PAYMENTS = {"default": {}, "payments": {"BASE_URL": "https://payments.invalid/"}}


def pointed_at(upstream: Upstream) -> Any:
    """A factory for a session whose base URL is the local test upstream."""

    def factory(config: options.ClientConfig) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(base_url=upstream.url_for("/echo/"))

    return factory


@override_settings(SESSIONHUB=PAYMENTS)
async def test_override_client_as_a_context_manager(upstream: Upstream) -> None:
    real = sessionhub.get("payments")
    with override_client("payments", pointed_at(upstream)):
        response = await AsyncClient().get("/fetch/payments/", {"url": "charge"})
        swapped = sessionhub.get("payments")
    assert response.status_code == 200
    assert response.json()["path"] == "/echo/charge"
    assert swapped is not real
    # The real client is back, the same object as before.
    assert sessionhub.get("payments") is real
    assert str(real._base_url) == "https://payments.invalid/"


async def test_overrides_nest_and_unwind(upstream: Upstream) -> None:
    def tagged(tag: str) -> Any:
        return lambda config: aiohttp.ClientSession(headers={"X-Tag": tag})

    with override_client("default", tagged("outer")):
        outer = sessionhub.get()
        with override_client("default", tagged("inner")):
            assert sessionhub.get().headers["X-Tag"] == "inner"
        assert sessionhub.get() is outer
    assert "X-Tag" not in sessionhub.get().headers


def test_override_client_as_a_decorator_of_a_sync_test(upstream: Upstream) -> None:
    @override_client("default", pointed_at(upstream))
    def body() -> Any:
        async def main() -> Any:
            return await fetch_json(sessionhub.get(), "sync")

        return asyncio.run(main())

    assert body()["path"] == "/echo/sync"


async def test_override_client_as_a_decorator_of_an_async_test(upstream: Upstream) -> None:
    @override_client("default", pointed_at(upstream))
    async def body() -> Any:
        return await fetch_json(sessionhub.get(), "async")

    assert (await body())["path"] == "/echo/async"
    assert upstream.requests == 1


async def test_an_unconfigured_name_can_be_overridden(upstream: Upstream) -> None:
    with override_client("reports", pointed_at(upstream)):
        assert (await fetch_json(sessionhub.get("reports"), "r"))["path"] == "/echo/r"
    with pytest.raises(sessionhub.UnknownClientError):
        sessionhub.get("reports")


async def test_the_plugin_fixture_overrides_for_the_test(
    sessionhub_override: Any, upstream: Upstream
) -> None:
    sessionhub_override("default", pointed_at(upstream))
    assert (await fetch_json(sessionhub.get(), "fixture"))["path"] == "/echo/fixture"


async def test_the_plugin_lifespan_fixture_runs_startup(
    sessionhub_lifespan: dict[str, Any],
) -> None:
    # Startup built the client before the test asked for it; the fixture's
    # shutdown will close it.
    assert sessionhub_lifespan == {}
    loop = asyncio.get_running_loop()
    built = [entry.client for entry in open_clients() if entry.loop is loop]
    assert len(built) == 1 and not built[0].closed
    assert sessionhub.get() is built[0]


async def test_lifespan_runs_startup_and_shutdown_around_the_block() -> None:
    seen: list[str] = []

    async def started(**kwargs: Any) -> None:
        kwargs["state"]["ready"] = True
        seen.append("started")

    async def finished(**kwargs: Any) -> None:
        seen.append("finished")

    with connected(lifespan_started, started), connected(lifespan_finished, finished):
        async with lifespan() as state:
            assert seen == ["started"]
            session = sessionhub.get()
        assert state == {"ready": True}
    assert seen == ["started", "finished"]
    assert session.closed


async def test_lifespan_raises_a_startup_failure() -> None:
    async def refuse(**kwargs: Any) -> None:
        raise RuntimeError("no API key")

    with connected(lifespan_started, refuse), pytest.raises(LifespanFailedError) as info:
        async with lifespan():
            pytest.fail("the block ran after a failed startup")
    assert "lifespan.startup.failed" in str(info.value)
    assert "RuntimeError: no API key" in str(info.value)


async def test_lifespan_raises_a_shutdown_failure() -> None:
    async def fail(**kwargs: Any) -> None:
        raise RuntimeError("flush failed")

    with connected(lifespan_finished, fail), pytest.raises(LifespanFailedError, match="flush"):
        async with lifespan():
            pass


async def test_lifespan_raises_what_the_application_raises() -> None:
    async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError(f"unsupported scope {scope['type']}")

    with pytest.raises(ValueError, match="unsupported scope lifespan"):
        async with lifespan(no_lifespan):
            pass


class OverrideInTestCaseTests(SimpleTestCase):
    """Django's test case classes, with the override entered in setUp (see the README)."""

    upstream: Upstream

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        from tests.upstream import running_upstream

        cls.upstream = cls.enterClassContext(running_upstream())

    def setUp(self) -> None:
        self.enterContext(override_client("payments", pointed_at(self.upstream)))

    @override_settings(SESSIONHUB=PAYMENTS)
    def test_sync_test_client(self) -> None:
        response = self.client.get("/fetch/payments/", {"url": "sync"})
        self.assertEqual(response.json()["path"], "/echo/sync")

    @override_settings(SESSIONHUB=PAYMENTS)
    async def test_async_test_client(self) -> None:
        response = await self.async_client.get("/fetch/payments/", {"url": "async"})
        self.assertEqual(response.json()["path"], "/echo/async")


class FakeSearch:
    """A stand-in client: sessionhub closes whatever it builds, so it has aclose()."""

    def __init__(self, config: options.ClientConfig) -> None:
        self.queries: list[str] = []
        self.closed = False

    async def search(self, query: str) -> list[str]:
        self.queries.append(query)
        return [f"result for {query}"]

    async def aclose(self) -> None:
        self.closed = True


@override_client("search", FakeSearch)
class FakeClientTests(SimpleTestCase):
    """The override as a class decorator, with a fake client (see the README)."""

    async def test_search_page(self) -> None:
        response = await self.async_client.get("/search/", {"q": "django"})
        self.assertContains(response, "result for django")

    def test_search_page_sync(self) -> None:
        response = self.client.get("/search/", {"q": "django"})
        self.assertContains(response, "result for django")

    def test_the_fake_is_closed_with_its_loop(self) -> None:
        async def main() -> FakeSearch:
            fake: FakeSearch = sessionhub.get("search")
            return fake

        fake = asyncio.run(main())
        self.assertTrue(fake.closed)


async def test_lifespan_chains_what_a_host_raises_after_its_failed_message() -> None:
    # Starlette sends lifespan.startup.failed and then raises: the helper
    # retrieves that exception (never "Task exception was never retrieved")
    # and chains it.
    async def host(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        raise ConnectionRefusedError("db:5432")

    with pytest.raises(LifespanFailedError, match="no database") as info:
        async with lifespan(host):
            pass
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


async def test_lifespan_raises_when_the_application_returns_without_answering() -> None:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    with pytest.raises(LifespanFailedError, match="returned without sending"):
        async with lifespan(silent):
            pass


async def test_lifespan_gives_up_on_an_application_that_never_answers() -> None:
    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError, match="no lifespan.startup.complete within 0.2 s"):
        async with lifespan(stuck, timeout=0.2):
            pass
