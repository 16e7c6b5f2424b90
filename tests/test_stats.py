from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

import sessionhub
from sessionhub.testing import override_client
from tests.upstream import Upstream
from tests.views import fetch_json


async def test_nothing_is_listed_before_a_client_is_built() -> None:
    assert sessionhub.stats() == {}


@pytest.mark.parametrize("factory", ["aiohttp_session", "httpx_client"])
async def test_a_client_reports_its_limits_and_connections(
    factory: str, upstream: Upstream
) -> None:
    options = {"FACTORY": f"sessionhub.factories.{factory}", "LIMIT": 7, "LIMIT_PER_HOST": 3}
    with override_settings(SESSIONHUB={"default": options}):
        client = sessionhub.get()
    before = sessionhub.stats()["default"]
    await fetch_json(client, upstream.url)
    after = sessionhub.stats()["default"]
    assert (before["in_use"], before["idle"]) == (0, 0)
    # The connection went back to the pool.
    assert (after["in_use"], after["idle"]) == (0, 1)
    assert after["limit"] == 7
    assert after["closed"] is False
    if factory == "aiohttp_session":
        assert after["type"] == "aiohttp.client.ClientSession"
        assert after["limit_per_host"] == 3
    else:
        assert after["type"] == "httpx.AsyncClient"


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


async def test_a_session_closed_behind_sessionhub_s_back_says_so() -> None:
    session = sessionhub.get()
    await session.close()  # not something to do; stats() still answers
    assert sessionhub.stats() == {
        "default": {"type": "aiohttp.client.ClientSession", "closed": True}
    }
