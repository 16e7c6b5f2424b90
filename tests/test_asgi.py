from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import aiohttp
import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import AsyncClient

import sessionhub
from sessionhub.asgi import LifespanASGIHandler, get_asgi_application
from sessionhub.signals import lifespan_finished, lifespan_started
from tests.helpers import connected, loop_session
from tests.upstream import Upstream

LIFESPAN_SCOPE: dict[str, Any] = {
    "type": "lifespan",
    "asgi": {"version": "3.0", "spec_version": "2.0"},
}


def lifespan(state: dict[str, Any] | None = None) -> ApplicationCommunicator:
    scope = dict(LIFESPAN_SCOPE)
    if state is not None:
        scope["state"] = state
    return ApplicationCommunicator(get_asgi_application(), scope)


async def test_startup_then_shutdown_opens_and_closes_the_loop_session() -> None:
    app = lifespan(state={})
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    # The app's own receiver opened the session before any request.
    session = loop_session()
    assert isinstance(session, aiohttp.ClientSession)
    assert sessionhub.get() is session

    await app.send_input({"type": "lifespan.shutdown"})
    assert await app.receive_output() == {"type": "lifespan.shutdown.complete"}
    await app.wait(timeout=1)  # the application returns after shutdown
    assert session.closed
    with pytest.raises(sessionhub.LifespanFinishedError):
        sessionhub.get()


async def test_receivers_get_scope_and_state_and_run_in_order() -> None:
    calls: list[tuple[str, Any]] = []

    async def on_started(sender: type, scope: dict[str, Any], state: Any, **kw: Any) -> None:
        calls.append(("started", (sender, scope["type"], state)))
        state["greeting"] = "hello"
        calls.append(("session open at startup", not sessionhub.get().closed))

    def on_finished_sync(sender: type, scope: dict[str, Any], state: Any, **kw: Any) -> None:
        calls.append(("finished (sync)", dict(state)))

    async def on_finished(**kw: Any) -> None:
        # Receivers may still call upstreams during shutdown.
        calls.append(("session open at shutdown", not sessionhub.get().closed))

    state: dict[str, Any] = {}
    with (
        connected(lifespan_started, on_started),
        connected(lifespan_finished, on_finished_sync),
        connected(lifespan_finished, on_finished),
    ):
        app = lifespan(state=state)
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
        await app.send_input({"type": "lifespan.shutdown"})
        assert await app.receive_output() == {"type": "lifespan.shutdown.complete"}
    # Django runs sync receivers in a thread alongside the async ones, so only
    # the phases are ordered, not the receivers within one phase.
    assert calls[:2] == [
        ("started", (LifespanASGIHandler, "lifespan", state)),
        ("session open at startup", True),
    ]
    assert sorted(calls[2:]) == [
        ("finished (sync)", {"greeting": "hello"}),
        ("session open at shutdown", True),
    ]


async def test_scope_without_state_passes_none() -> None:
    seen: list[Any] = []

    def receiver(state: Any, **kw: Any) -> None:
        seen.append(state)

    with connected(lifespan_started, receiver), connected(lifespan_finished, receiver):
        app = lifespan()
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
        await app.send_input({"type": "lifespan.shutdown"})
        assert await app.receive_output() == {"type": "lifespan.shutdown.complete"}
    assert seen == [None, None]


def refuse_to_start(**kw: Any) -> None:
    raise RuntimeError("payments API key is not set")


async def test_failing_startup_receiver_fails_startup_and_leaks_nothing() -> None:
    with connected(lifespan_started, refuse_to_start):
        app = lifespan()
        await app.send_input({"type": "lifespan.startup"})
        message = await app.receive_output()
        await app.wait(timeout=1)
    assert message["type"] == "lifespan.startup.failed"
    first_line = message["message"].splitlines()[0]
    assert first_line == (
        "lifespan_started receiver tests.test_asgi.refuse_to_start raised "
        "RuntimeError: payments API key is not set"
    )
    assert "Traceback" in message["message"]
    # The session the app's own receiver opened did not outlive the failure,
    # and none can be opened after it: the server may now end the process.
    assert loop_session() is None
    with pytest.raises(sessionhub.LifespanFinishedError):
        sessionhub.get()


async def test_failing_shutdown_receiver_runs_the_others_and_closes_sessions() -> None:
    ran: list[str] = []

    async def broken(**kw: Any) -> None:
        raise ValueError("could not deregister")

    async def fine(**kw: Any) -> None:
        ran.append("fine")

    with connected(lifespan_finished, broken), connected(lifespan_finished, fine):
        app = lifespan()
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
        session = sessionhub.get()
        await app.send_input({"type": "lifespan.shutdown"})
        message = await app.receive_output()
        await app.wait(timeout=1)
    assert message["type"] == "lifespan.shutdown.failed"
    assert message["message"].startswith(
        "lifespan_finished receiver "
        "tests.test_asgi.test_failing_shutdown_receiver_runs_the_others_and_closes_sessions"
        ".<locals>.broken raised ValueError: could not deregister"
    )
    assert ran == ["fine"]
    assert session.closed


async def test_an_unknown_lifespan_message_raises_as_the_spec_says(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = lifespan()
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        await app.send_input({"type": "lifespan.reload"})
        with pytest.raises(ValueError, match="received 'lifespan.reload' where the ASGI"):
            await app.wait(timeout=5)
    assert "unexpected ASGI lifespan message 'lifespan.reload'" in caplog.text


async def test_an_unknown_message_after_startup_shuts_down_then_raises() -> None:
    app = lifespan()
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    await app.send_input({"type": "lifespan.reload"})
    with pytest.raises(ValueError, match="allows only 'lifespan.shutdown'"):
        await app.wait(timeout=5)
    assert session.closed


async def test_two_apps_on_one_loop_share_the_session_until_both_stop() -> None:
    first, second = lifespan(), lifespan()
    for app in (first, second):
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    await first.send_input({"type": "lifespan.shutdown"})
    assert await first.receive_output() == {"type": "lifespan.shutdown.complete"}
    assert not session.closed
    await second.send_input({"type": "lifespan.shutdown"})
    assert await second.receive_output() == {"type": "lifespan.shutdown.complete"}
    assert session.closed


async def test_http_goes_to_django(upstream: Upstream, settings: Any) -> None:
    settings.DEMO_UPSTREAM_URL = upstream.url
    app = ApplicationCommunicator(
        LifespanASGIHandler(),
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        },
    )
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(timeout=5)
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    body = await app.receive_output(timeout=5)
    assert b'"ok": true' in body["body"]
    await app.wait(timeout=5)


async def test_websocket_is_refused_as_django_does() -> None:
    app = ApplicationCommunicator(LifespanASGIHandler(), {"type": "websocket", "path": "/"})
    with pytest.raises(ValueError, match="Django can only handle ASGI/HTTP connections"):
        await app.wait(timeout=1)


async def test_async_client_view_uses_the_loop_session(upstream: Upstream, settings: Any) -> None:
    settings.DEMO_UPSTREAM_URL = upstream.url
    client = AsyncClient()
    first = (await client.get("/")).json()
    second = (await client.get("/")).json()
    assert first["session"] == second["session"] == id(sessionhub.get())
    assert first["upstream"]["ok"] is True
    assert len(upstream.peers) == 1


class Gatekeeper:
    """A callable receiver object: it has no __qualname__ of its own."""

    def __call__(self, **kw: Any) -> None:
        raise PermissionError("not today")


async def test_a_receiver_without_a_qualname_is_named_in_startup_failed() -> None:
    # Django's own failure logging breaks on such receivers; sessionhub names
    # every callable safely, so the server gets startup.failed, not a crash.
    with connected(lifespan_started, Gatekeeper()):
        app = lifespan()
        await app.send_input({"type": "lifespan.startup"})
        message = await app.receive_output()
        await app.wait(timeout=1)
    assert message["type"] == "lifespan.startup.failed"
    assert message["message"].startswith(
        "lifespan_started receiver tests.test_asgi.Gatekeeper instance raised "
        "PermissionError: not today"
    )
    assert loop_session() is None


async def test_a_partial_receiver_that_raises_is_named_in_startup_failed() -> None:
    with connected(lifespan_started, functools.partial(refuse_to_start, reason="x")):
        app = lifespan()
        await app.send_input({"type": "lifespan.startup"})
        message = await app.receive_output()
        await app.wait(timeout=1)
    assert message["type"] == "lifespan.startup.failed"
    assert message["message"].startswith(
        "lifespan_started receiver functools.partial(tests.test_asgi.refuse_to_start) raised "
        "RuntimeError: payments API key is not set"
    )


class ServerGoingAway(BaseException):
    pass


async def test_startup_interrupted_by_a_base_exception_closes_sessions_and_reraises() -> None:
    async def interrupted(**kw: Any) -> None:
        sessionhub.get()
        raise ServerGoingAway

    with connected(lifespan_started, interrupted):
        app = lifespan()
        await app.send_input({"type": "lifespan.startup"})
        with pytest.raises(ServerGoingAway):
            await app.wait(timeout=1)
    assert loop_session() is None


async def test_shutdown_reports_a_broken_dispatch_and_still_closes_sessions() -> None:
    app = lifespan()
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    with connected(lifespan_finished, Gatekeeper()):
        await app.send_input({"type": "lifespan.shutdown"})
        message = await app.receive_output()
        await app.wait(timeout=1)
    assert message["type"] == "lifespan.shutdown.failed"
    assert message["message"].startswith(
        "lifespan_finished receiver tests.test_asgi.Gatekeeper instance raised PermissionError"
    )
    assert session.closed


async def test_a_lifespan_cancelled_while_serving_shuts_down_and_reraises() -> None:
    app = lifespan()
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    app.future.cancel()  # what a server does to a lifespan task it gives up on
    with pytest.raises(asyncio.CancelledError):
        await app.future
    assert session.closed


def test_the_old_hub_module_still_offers_its_public_names() -> None:
    from sessionhub import hub

    assert hub.get is sessionhub.get
    assert hub.LifespanFinishedError is sessionhub.LifespanFinishedError
