"""The worker's door: requests in flight and their wait to start; 503s for refused calls."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from django.test import AsyncClient, Client, override_settings

from sessionhub import admission, conf
from sessionhub.admission import MAX_WAIT, Admission, wrap

Message = dict[str, Any]


class Inner:
    """An ASGI app that answers 200, holding each request until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.entered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(
    app: Any, path: str = "/", headers: list[tuple[bytes, bytes]] | None = None, **scope: Any
) -> tuple[int, dict[bytes, bytes]]:
    """Send one GET through ``app``; its status and headers."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    request = {"type": "http", "path": path, "headers": headers or [], **scope}
    await app(request, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


async def test_requests_past_the_limit_are_refused_at_once_and_the_health_view_passes() -> None:
    inner = Inner()
    inner.release.clear()
    door = Admission(inner, limit=2)
    held = [asyncio.create_task(call(door)) for _ in range(2)]
    async with asyncio.timeout(10):
        while inner.entered < 2:
            await asyncio.sleep(0)
    status, headers = await call(door)
    health = asyncio.create_task(call(door, "/health/"))
    mounted = asyncio.create_task(call(door, "/app/health/", root_path="/app"))
    async with asyncio.timeout(10):
        while inner.entered < 4:  # both health checks reached the app
            await asyncio.sleep(0)
    assert (status, headers[b"retry-after"]) == (503, b"1")
    assert headers[b"content-type"].startswith(b"text/plain")
    assert (door.in_flight, door.refused) == (4, 1)
    inner.release.set()
    assert [(await task)[0] for task in [*held, health, mounted]] == [200] * 4
    assert (await call(door))[0] == 200
    assert door.in_flight == 0


@override_settings(ROOT_URLCONF="tests.bare_urls")
async def test_without_a_health_view_every_request_counts() -> None:
    inner = Inner()
    inner.release.clear()
    door = Admission(inner, limit=1)
    held = asyncio.create_task(call(door))
    async with asyncio.timeout(10):
        while inner.entered < 1:
            await asyncio.sleep(0)
    assert (await call(door, "/health/"))[0] == 503
    inner.release.set()
    await held


async def test_other_scopes_pass_whatever_the_load() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    door = Admission(app, limit=0)
    await door({"type": "lifespan"}, None, None)
    await door({"type": "websocket"}, None, None)
    assert seen == ["lifespan", "websocket"]


@pytest.mark.parametrize(
    ("stamp", "status"),
    [
        (lambda now: f"t={now - 5:.3f}", 503),  # nginx's t=${msec}: 5 s ago
        (lambda now: f"{(now - 5) * 1000:.0f}", 503),  # milliseconds
        (lambda now: f"{(now - 5) * 1_000_000:.0f}", 503),  # microseconds
        (lambda now: f"t={now:.3f}", 200),  # just now
        (lambda now: "t=yesterday", 200),  # unreadable: unknown
        (lambda now: f"t={now + 30:.3f}", 200),  # from the future: another clock
        (lambda now: f"t={now - 7200:.3f}", 200),  # two hours ago: another clock
    ],
)
async def test_a_request_that_waited_too_long_to_start_is_refused(stamp: Any, status: int) -> None:
    door = Admission(Inner(), limit=10)
    header = stamp(time.time()).encode()
    assert (await call(door, headers=[(b"x-request-start", header)]))[0] == status


async def test_a_late_loop_refuses_requests_until_it_catches_up() -> None:
    door = Admission(Inner(), limit=10)
    assert (await call(door))[0] == 200  # starts the ticks
    time.sleep(MAX_WAIT + 0.2)  # the loop is busy: its timers run late
    async with asyncio.timeout(10):
        while door.lag <= MAX_WAIT:
            await asyncio.sleep(0.01)
    late = await call(door)
    async with asyncio.timeout(10):
        while door.lag > MAX_WAIT:
            await asyncio.sleep(0.01)
    assert (late[0], (await call(door))[0]) == (503, 200)


def test_the_lateness_is_that_of_the_loop_the_application_runs_on_now() -> None:
    door = Admission(Inner(), limit=10)
    with asyncio.Runner() as first, asyncio.Runner() as second:
        assert first.run(call(door))[0] == 200
        assert second.run(call(door))[0] == 200  # now served on the second loop
        time.sleep(MAX_WAIT + 0.2)
        first.run(asyncio.sleep(0.01))  # the first loop's tick runs, very late ...
        assert door.lag < MAX_WAIT  # ... and is no longer this application's


def test_the_bound_comes_from_the_setting_and_zero_means_none() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    door = wrap(app)
    assert isinstance(door, Admission) and door.limit == 1000 and door.app is app
    with override_settings(SESSIONHUB_MAX_REQUESTS_IN_FLIGHT=0):
        assert wrap(app) is app
    with override_settings(SESSIONHUB_MAX_REQUESTS_IN_FLIGHT=64):
        assert admission.wrap(app).limit == 64  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [-1, 1.5, "100", True, None, 10**7])
def test_a_bad_bound_is_reported_and_the_default_used(
    value: object, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(SESSIONHUB_MAX_REQUESTS_IN_FLIGHT=value):
        ((check_id, message, _),) = conf.shutdown_problems()
        assert check_id == "sessionhub.E009"
        assert message.startswith("SESSIONHUB_MAX_REQUESTS_IN_FLIGHT ")
        with caplog.at_level(logging.WARNING, logger="sessionhub"):
            assert admission.wrap(Inner()).limit == conf.MAX_REQUESTS_IN_FLIGHT  # type: ignore[attr-defined]
    assert "Using the default, 1000 (sessionhub.E009)" in caplog.text


OVERLOAD = override_settings(
    ROOT_URLCONF="tests.overload_urls",
    MIDDLEWARE=["sessionhub.admission.OverloadMiddleware"],
)


@OVERLOAD
def test_a_refused_call_answers_503_with_retry_after_in_a_sync_view() -> None:
    response = Client().get("/refused/")
    assert (response.status_code, response["Retry-After"]) == (503, "7")
    assert b"retry later" in response.content


@OVERLOAD
async def test_a_refused_call_answers_503_with_retry_after_in_an_async_view() -> None:
    response = await AsyncClient().get("/refused-async/")
    assert (response.status_code, response["Retry-After"]) == (503, "3")


@OVERLOAD
async def test_other_exceptions_are_left_to_django() -> None:
    with pytest.raises(ValueError, match="not an overload"):
        await AsyncClient().get("/broken/")
    assert (await AsyncClient().get("/fine/")).status_code == 200
