"""sessionhub.middleware: the lifespan state as request.state, in sync and async views."""

from __future__ import annotations

import unittest
from typing import Any

import pytest
from django.test import AsyncClient as DjangoAsyncClient
from django.test import Client as DjangoClient
from django.test import override_settings

import sessionhub.asgi
from sessionhub.middleware import LifespanState, NoLifespanStateError
from sessionhub.signals import lifespan_started
from sessionhub.testing import AsyncClient, Client, lifespan
from tests.helpers import connected

pytestmark = pytest.mark.usefixtures("state_views")

VIEWS = ["/state/", "/state/sync/"]


@pytest.fixture
def state_views() -> Any:
    with override_settings(
        ROOT_URLCONF="tests.state_views",
        MIDDLEWARE=["sessionhub.middleware.LifespanStateMiddleware"],
    ):
        yield


@pytest.mark.parametrize("url", VIEWS)
async def test_the_async_test_client_passes_the_state_to_views(url: str) -> None:
    client = AsyncClient(state={"greeting": "hello", "other": 1})
    response = await client.get(url)
    assert response.json() == {"greeting": "hello", "keys": ["greeting", "other"]}


@pytest.mark.parametrize("url", VIEWS)
def test_the_sync_test_client_passes_the_state_to_views(url: str) -> None:
    response = Client(state={"greeting": "hello"}).get(url)
    assert response.json() == {"greeting": "hello", "keys": ["greeting"]}


async def greet(state: dict[str, Any], **kwargs: Any) -> None:
    state["greeting"] = "from a receiver"


async def test_a_lifespan_s_state_reaches_a_view() -> None:
    with connected(lifespan_started, greet):
        async with lifespan() as state:
            response = await AsyncClient(state=state).get("/state/")
    assert response.json()["greeting"] == "from a receiver"


async def test_each_request_gets_its_own_copy_of_the_state() -> None:
    state = {"greeting": "hello"}
    client = AsyncClient(state=state)
    response = await client.get("/state/")
    assert response.asgi_request.scope["state"] == state
    assert response.asgi_request.scope["state"] is not state
    sync_response = Client(state=state).get("/state/sync/")
    assert sync_response.wsgi_request.META["sessionhub.lifespan_state"] is not state


@pytest.mark.parametrize("url", VIEWS)
async def test_a_request_without_a_state_raises_a_clear_error(url: str) -> None:
    with pytest.raises(NoLifespanStateError, match="came without a lifespan state") as info:
        await DjangoAsyncClient().get(url)
    assert "sessionhub.asgi.get_asgi_application()" in str(info.value)
    with pytest.raises(NoLifespanStateError):
        await AsyncClient().get(url)  # no state= : like a server without one


@pytest.mark.parametrize("url", VIEWS)
def test_a_request_without_a_state_raises_a_clear_error_in_sync_code(url: str) -> None:
    with pytest.raises(NoLifespanStateError, match="came without a lifespan state"):
        DjangoClient().get(url)
    with pytest.raises(NoLifespanStateError):
        Client().get(url)


async def test_views_that_do_not_read_the_state_work_without_one() -> None:
    assert (await DjangoAsyncClient().get("/hello/")).json() == {"hello": True}
    assert DjangoClient().get("/hello/").json() == {"hello": True}


async def test_a_missing_key_names_the_keys_the_state_has() -> None:
    missing = r"'greeting' is not in the lifespan state \(it has \['db'\]"
    with pytest.raises(KeyError, match=missing):
        await AsyncClient(state={"db": 1}).get("/state/")
    with pytest.raises(KeyError, match=r"it has nothing\)"):
        await AsyncClient(state={}).get("/state/")


def test_the_state_is_a_read_only_mapping() -> None:
    state = LifespanState({"a": 1})
    assert dict(state) == {"a": 1}
    assert len(state) == 1
    assert repr(state) == "<LifespanState: ['a']>"
    with pytest.raises(TypeError):
        state["a"] = 2  # type: ignore[index]
    assert repr(LifespanState(None)) == "<LifespanState: none>"
    with pytest.raises(NoLifespanStateError):
        len(LifespanState(None))


class LifespanInIsolatedAsyncioTestCase(unittest.IsolatedAsyncioTestCase):
    """sessionhub.asgi.lifespan() in unittest's own async test case, as the README says."""

    async def asyncSetUp(self) -> None:
        self.enterContext(
            override_settings(
                ROOT_URLCONF="tests.state_views",
                MIDDLEWARE=["sessionhub.middleware.LifespanStateMiddleware"],
            )
        )
        self.enterContext(connected(lifespan_started, greet))
        lifespan = sessionhub.asgi.lifespan()
        self.state = await self.enterAsyncContext(lifespan)

    async def test_the_state_reaches_a_view(self) -> None:
        response = await AsyncClient(state=self.state).get("/state/")
        self.assertEqual(response.json()["greeting"], "from a receiver")
        self.assertIn("default", sessionhub.stats())
