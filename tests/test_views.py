from __future__ import annotations

from django.test import AsyncClient

from sessionhub import lifecycle
from sessionhub.testing import lifespan


async def test_health_is_503_without_a_lifespan() -> None:
    response = await AsyncClient().get("/health/")
    assert response.status_code == 503
    assert response.json()["status"] == "stopping"


async def test_health_is_200_while_the_lifespan_runs_and_503_once_shutdown_begins() -> None:
    client = AsyncClient()
    async with lifespan():
        running = await client.get("/health/")
        lifecycle.begin_shutdown()
        lifecycle.begin_shutdown()  # said once, logged once
        stopping = await client.get("/health/")
    assert running.status_code == 200
    body = running.json()
    assert body["status"] == "ok"
    assert body["clients"]["default"]["limit_per_host"] == 50
    assert "no-cache" in running["Cache-Control"]
    assert stopping.status_code == 503
    assert stopping.json()["status"] == "stopping"
