"""The pools' counts read back through OpenTelemetry's SDK, as an exporter would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import sessionhub
from sessionhub import telemetry
from tests.upstream import Upstream
from tests.views import fetch_json


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    telemetry.use(provider)
    try:
        yield reader
    finally:
        telemetry.use()
        provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Every data point sessionhub recorded, by instrument name."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name == "sessionhub":
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def by_state(observed: list[Any], port: int) -> dict[str, int]:
    """Open connections to the upstream on ``port``, by ``http.connection.state``."""
    return {
        p.attributes["http.connection.state"]: p.value
        for p in observed
        if p.attributes["server.port"] == port
    }


async def test_requests_waits_and_connections_are_exported_by_their_conventional_names(
    reader: InMemoryMetricReader, upstream: Upstream
) -> None:
    with override_settings(SESSIONHUB={"default": {"LIMIT": 1, "LIMIT_PER_HOST": 1}}):
        session = sessionhub.get()
    first = asyncio.create_task(fetch_json(session, upstream.url_for("/gate")))
    async with asyncio.timeout(10):
        while upstream.waiting < 1:
            await asyncio.sleep(0.01)
    second = asyncio.create_task(fetch_json(session, upstream.url))
    async with asyncio.timeout(10):
        while sessionhub.stats()["default"]["waiting"] < 1:
            await asyncio.sleep(0.01)
    held = points(reader)["http.client.open_connections"]
    upstream.release()
    await asyncio.gather(first, second)
    exported = points(reader)
    await session.close()
    closed = points(reader)

    origin = {
        "sessionhub.client": "default",
        "server.address": "127.0.0.1",
        "server.port": upstream.port,
        "url.scheme": "http",
    }
    (requests,) = exported["http.client.request.duration"]
    assert requests.count == 2
    assert dict(requests.attributes) == {
        **origin,
        "http.request.method": "GET",
        "http.response.status_code": 200,
    }
    (waits,) = exported["http.client.request.time_in_queue"]
    assert (waits.count, dict(waits.attributes)) == (1, origin)
    assert waits.sum > 0
    # Only this test's upstream: pools of earlier tests may not be collected yet.
    assert by_state(held, upstream.port) == {"active": 1, "idle": 0}
    assert by_state(closed["http.client.open_connections"], upstream.port) == {
        "active": 0,
        "idle": 0,
    }
    (connections,) = closed["http.client.connection.duration"]
    assert (connections.count, dict(connections.attributes)) == (1, origin)
    assert "http.client.connection.duration" not in exported  # none had closed yet


async def test_a_failed_request_is_exported_with_its_error_type(
    reader: InMemoryMetricReader, upstream: Upstream
) -> None:
    with override_settings(SESSIONHUB={"default": {"TIMEOUT": 0.2}}):
        session = sessionhub.get()
    with pytest.raises(TimeoutError):
        await fetch_json(session, upstream.url_for("/gate"))
    upstream.release()
    with pytest.raises(Exception, match="404"):
        await fetch_json(session, upstream.url_for("/nowhere"))
    errors = {
        p.attributes["error.type"]: p.attributes.get("http.response.status_code")
        for p in points(reader)["http.client.request.duration"]
    }
    assert errors == {"TimeoutError": None, "404": 404}


async def test_without_the_api_nothing_is_recorded_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch, upstream: Upstream
) -> None:
    monkeypatch.setattr(telemetry, "otel", None)
    telemetry.use()
    try:
        with override_settings(SESSIONHUB={"default": {"LIMIT": 1, "LIMIT_PER_HOST": 0}}):
            session = sessionhub.get()
        slow = upstream.url_for("/slow?seconds=0.2")
        # The second call waits for the one connection: a wait, not recorded.
        await asyncio.gather(fetch_json(session, slow), fetch_json(session, slow))
        await session.close()
        stats = sessionhub.stats()["default"]
        assert stats["connections"]["closed"] == 1
        assert stats["pool_wait"]["count"] == 1
    finally:
        monkeypatch.undo()
        telemetry.use()


class OldMeterProvider:
    """An SDK meter provider as OpenTelemetry's API before 1.30 offers it: no bucket advice."""

    def __init__(self, provider: MeterProvider) -> None:
        self.provider = provider

    def get_meter(self, name: str) -> Any:
        meter = self.provider.get_meter(name)

        class OldMeter:
            def create_histogram(self, name: str, unit: str = "", description: str = "") -> Any:
                return meter.create_histogram(name, unit, description)

            def create_observable_up_down_counter(self, *args: Any, **kwargs: Any) -> Any:
                return meter.create_observable_up_down_counter(*args, **kwargs)

        return OldMeter()


async def test_an_api_without_bucket_advice_records_with_the_sdk_s_buckets(
    upstream: Upstream,
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    telemetry.use(OldMeterProvider(provider))
    try:
        session = sessionhub.get()
        await fetch_json(session, upstream.url)
        (requests,) = points(reader)["http.client.request.duration"]
    finally:
        telemetry.use()
        provider.shutdown()
    assert requests.count == 1
    assert tuple(requests.explicit_bounds) != telemetry.BUCKETS
