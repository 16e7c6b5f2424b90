"""sessionhub.asgi.lifespan() and register_lifespan(): order, state, failures, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from django.test import override_settings

import sessionhub
from sessionhub.asgi import LifespanASGIHandler, lifespan
from sessionhub.lifespan import run, unregister_lifespan
from sessionhub.signals import lifespan_finished, lifespan_started
from tests.helpers import connected, open_sessions


@contextmanager
def registered(*factories: Any) -> Iterator[None]:
    """Register ``factories`` for the block only."""
    for factory in factories:
        sessionhub.register_lifespan(factory)
    try:
        yield
    finally:
        for factory in factories:
            unregister_lifespan(factory)


def recording(log: list[str], name: str, value: Any = None, fail: str = "") -> Any:
    @asynccontextmanager
    async def manager() -> AsyncIterator[Any]:
        if fail == "enter":
            raise RuntimeError(f"{name} cannot start")
        log.append(f"enter {name}")
        try:
            yield value
        finally:
            log.append(f"exit {name}")
            if fail == "exit":
                raise RuntimeError(f"{name} cannot stop")

    manager.__qualname__ = f"lifespan_{name}"
    return manager


async def test_registered_lifespans_enter_in_order_after_receivers_and_exit_in_reverse() -> None:
    log: list[str] = []

    async def started(**kwargs: Any) -> None:
        log.append("lifespan_started")

    async def finished(**kwargs: Any) -> None:
        log.append("lifespan_finished")

    with (
        registered(recording(log, "pool", {"pool": 1}), recording(log, "warm", {"warm": 2})),
        connected(lifespan_started, started),
        connected(lifespan_finished, finished),
    ):
        async with lifespan() as state:
            assert state == {"pool": 1, "warm": 2}
            log.append("serving")
    assert log == [
        "lifespan_started",
        "enter pool",
        "enter warm",
        "serving",
        "exit warm",
        "exit pool",
        "lifespan_finished",
    ]


async def test_get_works_inside_a_registered_lifespan() -> None:
    seen: list[Any] = []

    @asynccontextmanager
    async def uses_the_client() -> AsyncIterator[None]:
        seen.append(sessionhub.get())
        yield
        assert not sessionhub.get().closed

    with registered(uses_the_client):
        async with lifespan():
            assert sessionhub.get() is seen[0]
    assert seen[0].closed


async def test_one_that_fails_to_enter_exits_the_others_and_fails_startup() -> None:
    log: list[str] = []
    finished: list[str] = []

    async def on_finished(**kwargs: Any) -> None:
        finished.append("sent")

    with (
        registered(recording(log, "pool"), recording(log, "broken", fail="enter")),
        connected(lifespan_finished, on_finished),
        pytest.raises(sessionhub.LifespanFailedError) as failed,
    ):
        async with lifespan():
            pytest.fail("startup should have failed")
    assert log == ["enter pool", "exit pool"]
    assert finished == []  # lifespan_finished is not sent after a failed startup
    assert "registered lifespan tests.test_lifespan.lifespan_broken raised RuntimeError" in str(
        failed.value
    )
    assert open_sessions() == []


async def test_exit_failures_are_reported_and_the_rest_still_exits() -> None:
    log: list[str] = []
    with (
        registered(recording(log, "pool"), recording(log, "broken", fail="exit")),
        pytest.raises(sessionhub.LifespanFailedError, match="lifespan_broken raised"),
    ):
        async with lifespan():
            session = sessionhub.get()
    assert log == ["enter pool", "enter broken", "exit broken", "exit pool"]
    assert session.closed


async def test_a_registered_lifespan_must_yield_a_mapping_or_nothing() -> None:
    with (
        registered(recording([], "odd", value=["not", "a", "mapping"])),
        pytest.raises(sessionhub.LifespanFailedError, match="yielded a list"),
    ):
        async with lifespan():
            pass


@override_settings(SESSIONHUB_STARTUP_TIMEOUT=0.2, SESSIONHUB_SHUTDOWN_TIMEOUT=0.2)
async def test_registered_lifespans_are_bounded_both_ways() -> None:
    @asynccontextmanager
    async def slow_start() -> AsyncIterator[None]:
        await asyncio.Event().wait()
        yield

    with (
        registered(slow_start),
        pytest.raises(sessionhub.LifespanFailedError, match="was still starting after"),
    ):
        async with lifespan():
            pass

    @asynccontextmanager
    async def slow_stop() -> AsyncIterator[None]:
        yield
        await asyncio.Event().wait()

    with (
        registered(slow_stop),
        pytest.raises(sessionhub.LifespanFailedError, match="was still exiting after"),
    ):
        async with lifespan():
            session = sessionhub.get()
    assert session.closed


@override_settings(SESSIONHUB_SHUTDOWN_TIMEOUT=0.2)
async def test_a_failed_startup_reports_registered_lifespans_that_fail_to_exit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    with (
        registered(recording(log, "stuck", fail="exit"), recording(log, "b", fail="enter")),
        pytest.raises(sessionhub.LifespanFailedError),
    ):
        async with lifespan():
            pass
    assert "after a failed startup, registered lifespan tests.test_lifespan.lifespan_stuck" in (
        caplog.text
    )


def test_register_lifespan_takes_callables_once() -> None:
    with pytest.raises(TypeError, match="takes a callable that returns an async context"):
        sessionhub.register_lifespan("myapp.lifespan")  # type: ignore[arg-type]
    factory = recording([], "twice")
    with registered(factory, factory):
        from sessionhub.lifespan import _registered

        assert _registered.count(factory) == 1
    unregister_lifespan(factory)  # unknown now: ignored


async def test_a_server_without_state_gives_none_and_mappings_have_nowhere_to_go() -> None:
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    seen: list[Any] = []

    async def receiver(state: Any, **kwargs: Any) -> None:
        seen.append(state)

    with connected(lifespan_started, receiver):
        async with run(LifespanASGIHandler, scope, loop_continues=True):
            pass
    assert seen == [None]
    with (
        registered(recording([], "stateful", value={"k": 1})),
        pytest.raises(sessionhub.LifespanFailedError, match="the server provides none"),
    ):
        async with run(LifespanASGIHandler, scope, loop_continues=True):
            pass


async def test_the_block_raising_still_shuts_down_and_the_error_wins() -> None:
    async def broken(**kwargs: Any) -> None:
        raise ValueError("shutdown broke too")

    with connected(lifespan_finished, broken), pytest.raises(KeyError):
        async with lifespan():
            session = sessionhub.get()
            raise KeyError("the block's error")
    assert session.closed


async def test_the_hosted_handlers_class_is_the_sender() -> None:
    class Hosted(LifespanASGIHandler):
        pass

    senders: list[Any] = []

    async def receiver(sender: Any, **kwargs: Any) -> None:
        senders.append(sender)

    with connected(lifespan_started, receiver):
        async with lifespan(Hosted()) as state:
            assert state == {}
    assert senders == [Hosted]
