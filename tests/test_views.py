from __future__ import annotations

import logging
import os
from typing import Any

import pytest
from django.test import AsyncClient, override_settings

from sessionhub.signals import lifespan_finished
from sessionhub.testing import lifespan
from tests.helpers import connected


async def health() -> tuple[int, dict[str, Any]]:
    response = await AsyncClient().get("/health/")
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


async def test_health_is_200_under_a_server_that_runs_no_lifespan() -> None:
    # daphne, runserver, uvicorn --lifespan off: nothing ever stops serving.
    assert await health() == (200, {"status": "ok"})


async def test_health_is_200_while_the_lifespan_runs_and_503_once_shutdown_begins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    async def probe(**kwargs: Any) -> None:
        seen.append(await health())

    with caplog.at_level(logging.INFO, logger="sessionhub"), connected(lifespan_finished, probe):
        async with lifespan():
            running = await health()
    # No pid, no client names, types, limits or pool counts for anyone who asks.
    assert running == (200, {"status": "ok"})
    assert seen == [(503, {"status": "stopping"})]
    begun = [r for r in caplog.records if r.getMessage().startswith("shutdown begun")]
    assert len(begun) == 1, [r.getMessage() for r in caplog.records]
    assert await health() == (200, {"status": "ok"})  # the loop is as before any lifespan


@override_settings(SESSIONHUB_HEALTH_DETAILS=True)
async def test_health_details_are_opt_in() -> None:
    async with lifespan():
        body = (await AsyncClient().get("/health/")).json()
    assert body["status"] == "ok"
    assert body["pid"] == os.getpid()
    assert body["clients"]["default"]["limit_per_host"] == 50


@override_settings(SESSIONHUB_HEALTH_DETAILS="yes")
async def test_health_details_need_true_itself() -> None:
    async with lifespan():
        body = (await AsyncClient().get("/health/")).json()
    assert body == {"status": "ok"}


class Unreadable:
    """A client that cannot be described: its internals and its state raise when read."""

    def __init__(self, config: Any) -> None:
        pass

    @property
    def _transport(self) -> Any:
        raise RuntimeError("this library moved its internals")

    @property
    def is_closed(self) -> bool:
        raise RuntimeError("and its public state is broken too")

    async def aclose(self) -> None:
        pass


@override_settings(SESSIONHUB={"default": {"FACTORY": "tests.test_views.Unreadable"}})
async def test_health_reads_no_client_internals_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with lifespan():
        response = await AsyncClient().get("/health/")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "describing the clients failed" not in caplog.text


@override_settings(
    SESSIONHUB_HEALTH_DETAILS=True,
    SESSIONHUB={"default": {"FACTORY": "tests.test_views.Unreadable"}},
)
async def test_health_never_answers_500_when_describing_a_client_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with lifespan():
        response = await AsyncClient().get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "pid": os.getpid(), "clients": None}
    (record,) = [r for r in caplog.records if "describing the clients failed" in r.getMessage()]
    assert record.exc_info is not None
