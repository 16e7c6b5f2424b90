"""Registered lifespans (sessionhub.lifespans): order, state, failures, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from django.test import override_settings

import sessionhub
from sessionhub.asgi import LifespanASGIHandler, lifespan, run
from sessionhub.lifespans import _registered, unregister_lifespan
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


def recording(
    log: list[str], name: str, value: Any = None, fail: str = "", error: type = RuntimeError
) -> Any:
    @asynccontextmanager
    async def manager() -> AsyncIterator[Any]:
        if fail == "enter":
            raise error(f"{name} cannot start")
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
    assert "registered lifespan tests.test_lifespans.lifespan_broken raised RuntimeError" in str(
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


async def test_a_failed_startup_reports_registered_lifespans_that_fail_to_exit() -> None:
    log: list[str] = []
    with (
        registered(recording(log, "stuck", fail="exit"), recording(log, "b", fail="enter")),
        pytest.raises(sessionhub.LifespanFailedError) as failed,
    ):
        async with lifespan():
            pass
    message = str(failed.value)
    assert "registered lifespan tests.test_lifespans.lifespan_b raised RuntimeError" in message
    assert "registered lifespan tests.test_lifespans.lifespan_stuck raised RuntimeError" in message
    assert log == ["enter stuck", "exit stuck"]


def test_register_lifespan_takes_callables_once() -> None:
    with pytest.raises(TypeError, match="takes a callable that returns an async context"):
        sessionhub.register_lifespan("myapp.lifespan")  # type: ignore[arg-type]
    factory = recording([], "twice")
    with registered(factory, factory):
        assert _registered.count(factory) == 1
    unregister_lifespan(factory)  # unknown now: ignored


async def test_a_server_without_state_gives_none_and_mappings_have_nowhere_to_go() -> None:
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    seen: list[Any] = []

    async def receiver(state: Any, **kwargs: Any) -> None:
        seen.append(state)

    with connected(lifespan_started, receiver):
        async with run(LifespanASGIHandler, scope):
            pass
    assert seen == [None]
    with (
        registered(recording([], "stateful", value={"k": 1})),
        pytest.raises(sessionhub.LifespanFailedError, match="the server provides none"),
    ):
        async with run(LifespanASGIHandler, scope):
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


@override_settings(SESSIONHUB_STARTUP_TIMEOUT=0.2, SESSIONHUB_SHUTDOWN_TIMEOUT=0.2)
@pytest.mark.parametrize("when", ["starting", "exiting"])
async def test_one_that_ignores_its_cancellation_is_bounded_like_a_hang(when: str) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        if release.is_set():
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # goes on, as if nothing happened

    @asynccontextmanager
    async def swallows() -> AsyncIterator[None]:
        if when == "starting":
            await stubborn()
        yield
        await stubborn()

    loop = asyncio.get_running_loop()
    with registered(swallows), pytest.raises(sessionhub.LifespanFailedError) as failed:
        started = loop.time()
        async with lifespan():
            session = sessionhub.get()
            started = loop.time()
    # The bound, and no more: nothing waits for what ignores its cancellation.
    assert loop.time() - started < 0.2 + 0.1
    assert (
        f"lifespan_swallows was still {when} after SESSIONHUB_"
        f"{'STARTUP' if when == 'starting' else 'SHUTDOWN'}_TIMEOUT (0.2 s) and was cancelled; "
        "it ignored the cancellation and is left running"
    ) in str(failed.value).replace(f"{__name__}.{swallows.__qualname__}", "lifespan_swallows")
    assert open_sessions() == []
    if when == "exiting":
        assert session.closed
    release.set()


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt])
async def test_system_exit_from_a_registered_lifespan_is_its_failure(kind: type) -> None:
    with (
        registered(recording([], "exits", fail="enter", error=kind)),
        pytest.raises(
            sessionhub.LifespanFailedError, match=f"lifespan_exits raised {kind.__name__}"
        ),
    ):
        async with lifespan():
            pass


async def test_a_task_group_is_entered_and_exited_in_one_task() -> None:
    # anyio's task groups (and so Starlette's and FastAPI's lifespans) must be
    # exited by the task that entered them.
    import anyio

    ran: list[str] = []

    @asynccontextmanager
    async def background() -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.sleep_forever)
            yield
            ran.append("exiting")
            group.cancel_scope.cancel()

    with registered(background):
        async with lifespan():
            pass
    assert ran == ["exiting"]


@override_settings(SESSIONHUB_STARTUP_TIMEOUT=0.2)
async def test_what_fails_while_a_startup_past_its_bound_is_undone_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @asynccontextmanager
    async def slow_stop() -> AsyncIterator[None]:
        yield
        await asyncio.sleep(0.05)  # while the startup is being undone
        raise RuntimeError("cannot stop")

    @asynccontextmanager
    async def slow_start() -> AsyncIterator[None]:
        await asyncio.Event().wait()
        yield

    with (
        registered(slow_stop, slow_start),
        pytest.raises(sessionhub.LifespanFailedError, match="slow_start was still starting"),
    ):
        async with lifespan():
            pass
    assert "after a failed startup, registered lifespan tests.test_lifespans." in caplog.text
    assert "slow_stop raised RuntimeError: cannot stop" in caplog.text


async def test_a_startup_cancelled_while_entering_exits_what_was_entered() -> None:
    log: list[str] = []
    entering = asyncio.Event()

    @asynccontextmanager
    async def slow_start() -> AsyncIterator[None]:
        entering.set()
        await asyncio.Event().wait()
        yield

    with registered(recording(log, "pool"), slow_start):
        task = asyncio.create_task(lifespan().__aenter__())
        await entering.wait()
        task.cancel()  # what a server does to a lifespan it gives up on
        with pytest.raises(asyncio.CancelledError):
            await task
    assert log == ["enter pool", "exit pool"]
    assert open_sessions() == []
