"""The lifespan and its ASGI handler (sessionhub.asgi), under every kind of driver."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp
import httpx
import pytest
from asgi_lifespan import LifespanManager
from asgiref.testing import ApplicationCommunicator
from django.test import AsyncClient
from starlette.testclient import TestClient

import sessionhub
from sessionhub.asgi import LifespanASGIHandler, get_asgi_application, lifespan
from sessionhub.signals import lifespan_finished, lifespan_started
from sessionhub.testing import LifespanFailedError
from tests.helpers import connected, loop_session
from tests.upstream import Upstream

LIFESPAN_SCOPE: dict[str, Any] = {
    "type": "lifespan",
    "asgi": {"version": "3.0", "spec_version": "2.0"},
}


def application() -> Any:
    """The handler, typed for drivers: django-stubs types its receive and send
    callables with read-only mappings, where the ASGI spec's types are mutable."""
    return get_asgi_application()


def communicator(state: dict[str, Any] | None = None) -> ApplicationCommunicator:
    scope = dict(LIFESPAN_SCOPE)
    if state is not None:
        scope["state"] = state
    return ApplicationCommunicator(get_asgi_application(), scope)


async def failed(app: ApplicationCommunicator) -> tuple[dict[str, Any], BaseException | None]:
    """What a server sees of a failed phase: the message, then what the application raised."""
    message: dict[str, Any] = await asyncio.wait_for(app.output_queue.get(), 5)
    await asyncio.wait([app.future], timeout=5)
    return message, app.future.exception()


async def test_startup_then_shutdown_opens_and_closes_the_clients() -> None:
    app = communicator(state={})
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    # The configured clients were built before any request.
    session = loop_session()
    assert isinstance(session, aiohttp.ClientSession)
    assert sessionhub.get() is session

    await app.send_input({"type": "lifespan.shutdown"})
    assert await app.receive_output() == {"type": "lifespan.shutdown.complete"}
    await app.wait(timeout=1)  # the application returns after shutdown
    assert session.closed
    # The loop is as before any lifespan: a later client is closed with it.
    assert not sessionhub.get().closed


async def test_receivers_get_scope_and_state_and_run_in_order() -> None:
    calls: list[tuple[str, Any]] = []

    async def on_started(sender: type, scope: dict[str, Any], state: Any, **kw: Any) -> None:
        calls.append(("started", (sender, scope["type"], state)))
        state["greeting"] = "hello"
        calls.append(("client open at startup", not sessionhub.get().closed))

    def on_finished_sync(sender: type, scope: dict[str, Any], state: Any, **kw: Any) -> None:
        calls.append(("finished (sync)", dict(state)))

    async def on_finished(**kw: Any) -> None:
        # Receivers may still call upstreams during shutdown.
        calls.append(("client open at shutdown", not sessionhub.get().closed))

    state: dict[str, Any] = {}
    with (
        connected(lifespan_started, on_started),
        connected(lifespan_finished, on_finished_sync),
        connected(lifespan_finished, on_finished),
    ):
        app = communicator(state=state)
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
        await app.send_input({"type": "lifespan.shutdown"})
        assert await app.receive_output() == {"type": "lifespan.shutdown.complete"}
    # Sync receivers run in a thread alongside the async ones, so only the
    # phases are ordered, not the receivers within one phase.
    assert calls[:2] == [
        ("started", (LifespanASGIHandler, "lifespan", state)),
        ("client open at startup", True),
    ]
    assert sorted(calls[2:]) == [
        ("client open at shutdown", True),
        ("finished (sync)", {"greeting": "hello"}),
    ]


async def test_scope_without_state_passes_none() -> None:
    seen: list[Any] = []

    def receiver(state: Any, **kw: Any) -> None:
        seen.append(state)

    with connected(lifespan_started, receiver), connected(lifespan_finished, receiver):
        app = communicator()
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
        await app.send_input({"type": "lifespan.shutdown"})
        assert await app.receive_output() == {"type": "lifespan.shutdown.complete"}
    assert seen == [None, None]


def refuse_to_start(**kw: Any) -> None:
    raise RuntimeError("payments API key is not set")


async def test_a_failed_startup_is_sent_then_raised_and_leaks_nothing() -> None:
    with connected(lifespan_started, refuse_to_start):
        app = communicator()
        await app.send_input({"type": "lifespan.startup"})
        message, raised = await failed(app)
    assert message["type"] == "lifespan.startup.failed"
    first_line = message["message"].splitlines()[0]
    assert first_line == (
        "lifespan_started receiver tests.test_asgi.refuse_to_start raised "
        "RuntimeError: payments API key is not set"
    )
    assert "Traceback" in message["message"]
    # Raised after the message, as Starlette does: drivers that only read
    # *.complete or an exception see the failure too.
    assert isinstance(raised, LifespanFailedError)
    assert str(raised) == message["message"]
    assert loop_session() is None  # the clients built at startup did not outlive it


async def test_a_failed_shutdown_runs_the_others_closes_the_clients_and_is_raised() -> None:
    ran: list[str] = []

    async def broken(**kw: Any) -> None:
        raise ValueError("could not deregister")

    async def fine(**kw: Any) -> None:
        ran.append("fine")

    with connected(lifespan_finished, broken), connected(lifespan_finished, fine):
        app = communicator()
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
        session = sessionhub.get()
        await app.send_input({"type": "lifespan.shutdown"})
        message, raised = await failed(app)
    assert message["type"] == "lifespan.shutdown.failed"
    assert message["message"].startswith(
        "lifespan_finished receiver tests.test_asgi."
        "test_a_failed_shutdown_runs_the_others_closes_the_clients_and_is_raised"
        ".<locals>.broken raised ValueError: could not deregister"
    )
    assert isinstance(raised, LifespanFailedError)
    assert ran == ["fine"]
    assert session.closed


async def test_an_unknown_lifespan_message_raises_as_the_spec_says() -> None:
    app = communicator()
    await app.send_input({"type": "lifespan.reload"})
    with pytest.raises(ValueError, match="received 'lifespan.reload' where the ASGI"):
        await app.wait(timeout=5)


async def test_an_unknown_message_after_startup_shuts_down_then_raises() -> None:
    app = communicator()
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    await app.send_input({"type": "lifespan.reload"})
    with pytest.raises(ValueError, match="allows only 'lifespan.shutdown'"):
        await app.wait(timeout=5)
    assert session.closed


async def test_two_apps_on_one_loop_share_the_clients_and_serve_until_both_stop() -> None:
    health: list[int] = []

    async def probe(**kw: Any) -> None:
        health.append((await AsyncClient().get("/health/")).status_code)

    first, second = communicator(), communicator()
    for app in (first, second):
        await app.send_input({"type": "lifespan.startup"})
        assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    with connected(lifespan_finished, probe):
        await first.send_input({"type": "lifespan.shutdown"})
        assert await first.receive_output() == {"type": "lifespan.shutdown.complete"}
        assert not session.closed
        await second.send_input({"type": "lifespan.shutdown"})
        assert await second.receive_output() == {"type": "lifespan.shutdown.complete"}
    assert session.closed
    # While the second still served, so did the health view; then it stopped.
    assert health == [200, 503]


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


class Gatekeeper:
    """A callable receiver object: it has no __qualname__ of its own."""

    def __call__(self, **kw: Any) -> None:
        raise PermissionError("not today")


async def test_a_receiver_without_a_qualname_is_named_in_startup_failed() -> None:
    # Django's own failure logging breaks on such receivers; sessionhub names
    # every callable safely, so the server gets startup.failed, not a crash.
    with connected(lifespan_started, Gatekeeper()):
        app = communicator()
        await app.send_input({"type": "lifespan.startup"})
        message, _ = await failed(app)
    assert message["message"].startswith(
        "lifespan_started receiver tests.test_asgi.Gatekeeper instance raised "
        "PermissionError: not today"
    )


async def test_a_partial_receiver_that_raises_is_named_in_startup_failed() -> None:
    with connected(lifespan_started, functools.partial(refuse_to_start, reason="x")):
        app = communicator()
        await app.send_input({"type": "lifespan.startup"})
        message, _ = await failed(app)
    assert message["message"].startswith(
        "lifespan_started receiver functools.partial(tests.test_asgi.refuse_to_start) raised "
        "RuntimeError: payments API key is not set"
    )


async def test_startup_cancelled_by_the_server_closes_the_clients_and_reraises() -> None:
    started = asyncio.Event()

    async def waits(**kw: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    with connected(lifespan_started, waits):
        app = communicator()
        await app.send_input({"type": "lifespan.startup"})
        await started.wait()
        app.future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await app.future
    assert loop_session() is None


async def test_a_lifespan_cancelled_while_serving_shuts_down_and_reraises() -> None:
    app = communicator()
    await app.send_input({"type": "lifespan.startup"})
    assert await app.receive_output() == {"type": "lifespan.startup.complete"}
    session = sessionhub.get()
    app.future.cancel()  # what a server does to a lifespan task it gives up on
    with pytest.raises(asyncio.CancelledError):
        await app.future
    assert session.closed


async def test_the_host_lifespan_yields_the_state_and_names_the_hosted_class() -> None:
    class Hosted(LifespanASGIHandler):
        pass

    senders: list[Any] = []

    async def receiver(sender: Any, state: dict[str, Any], **kwargs: Any) -> None:
        senders.append(sender)
        state["ready"] = True

    with connected(lifespan_started, receiver):
        async with lifespan(Hosted()) as state:
            assert state == {"ready": True}
        async with lifespan():
            pass
    assert senders == [Hosted, LifespanASGIHandler]


async def test_asgi_lifespans_lifespan_manager_then_plain_get(upstream: Upstream) -> None:
    # asgi-lifespan's LifespanManager, the usual driver in httpx-based tests.
    async with LifespanManager(application()) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/health/")).json() == {"status": "ok"}
        during = sessionhub.get()
    assert during.closed
    after = sessionhub.get()  # no LifespanFinishedError after another driver's lifespan
    async with after.get(upstream.url) as response:
        assert response.status == 200


async def test_asgi_lifespans_lifespan_manager_sees_a_failed_startup_at_once() -> None:
    loop = asyncio.get_running_loop()
    with connected(lifespan_started, refuse_to_start):
        started = loop.time()
        with pytest.raises(LifespanFailedError, match="payments API key is not set"):
            async with LifespanManager(application(), startup_timeout=30):
                pass
    assert loop.time() - started < 5  # raised, not LifespanManager's timeout


# Starlette's TestClient before 1.0 leaves its anyio streams open when the
# startup fails (checked: 0.38.6 leaks, 1.10 does not): its leak, not ours,
# which the open-client check of every test would still catch.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function MemoryObject:pytest.PytestUnraisableExceptionWarning"
)
def test_starlettes_test_client_sees_a_failed_startup() -> None:
    with (
        connected(lifespan_started, refuse_to_start),
        pytest.raises(LifespanFailedError, match="payments API key is not set"),
        TestClient(application()),
    ):
        pytest.fail("the client should not have started")


def test_starlettes_test_client_runs_the_lifespan_around_its_block() -> None:
    seen: list[str] = []

    def finished(**kw: Any) -> None:
        seen.append("finished")

    with connected(lifespan_finished, finished):
        with TestClient(application()) as client:
            assert client.get("/health/").json() == {"status": "ok"}
        assert seen == ["finished"]
