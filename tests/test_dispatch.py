"""Sending the lifespan signals (sessionhub.dispatch): every receiver bounded and named."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction
from django.db import connections
from django.dispatch import Signal
from django.test import override_settings

import sessionhub
from sessionhub import dispatch
from sessionhub.asgi import lifespan
from sessionhub.errors import describe
from sessionhub.signals import lifespan_finished, lifespan_started
from sessionhub.testing import LifespanFailedError
from tests.helpers import connected, open_sessions


class WholeSignal(Signal):
    """A signal whose receivers compat cannot list: dispatch sends it as a whole."""

    def _live_receivers(self, sender: Any) -> Any:
        found = super()._live_receivers(sender)
        if getattr(self, "as_django_has_it", False):
            return found
        self.as_django_has_it = True  # asend_robust() below needs the real answer
        return None


def far() -> float:
    return asyncio.get_running_loop().time() + 10


def soon() -> float:
    return asyncio.get_running_loop().time() + 0.1


async def test_when_receivers_cannot_be_listed_the_signal_is_sent_whole() -> None:
    signal = WholeSignal()

    def refuses(**kwargs: Any) -> None:
        raise RuntimeError("no")

    signal.connect(refuses, weak=False)
    (failure,) = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert failure.startswith("s receiver tests.test_dispatch.")
    assert "refuses raised RuntimeError: no" in failure


async def test_sent_whole_it_is_still_bounded() -> None:
    signal = WholeSignal()

    async def hangs(**kwargs: Any) -> None:
        await asyncio.Event().wait()

    signal.connect(hangs, weak=False)
    failures = await dispatch.send(signal, "s", object, deadline=soon(), bound="B")
    assert failures == ["s receivers was still running after B and was cancelled"]


class BrokenSend(WholeSignal):
    async def asend_robust(self, sender: Any, **named: Any) -> Any:
        raise AttributeError("Django changed")


async def test_sent_whole_a_broken_dispatch_is_a_failure_not_a_crash() -> None:
    (failure,) = await dispatch.send(BrokenSend(), "s", object, deadline=far(), bound="B")
    assert failure.startswith("s receivers raised AttributeError: Django changed")


async def test_a_receiver_that_raises_before_awaiting_is_reported() -> None:
    signal = Signal()

    def not_really_async(**kwargs: Any) -> None:
        raise LookupError("at call time")

    signal.connect(markcoroutinefunction(not_really_async), weak=False)
    (failure,) = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert "raised LookupError: at call time" in failure


async def test_a_receiver_that_cancels_itself_is_reported() -> None:
    signal = Signal()

    async def gives_up(**kwargs: Any) -> None:
        raise asyncio.CancelledError

    signal.connect(gives_up, weak=False)
    (failure,) = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert failure.endswith("gives_up was cancelled")


@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt])
async def test_system_exit_from_any_receiver_is_a_failure_of_that_receiver(kind: type) -> None:
    signal = Signal()

    async def exits(**kwargs: Any) -> None:
        raise kind(2)

    def exits_too(**kwargs: Any) -> None:
        raise kind(3)

    signal.connect(exits, weak=False)
    signal.connect(exits_too, weak=False)
    failures = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert len(failures) == 2
    assert f"exits raised {kind.__name__}: 2" in failures[0]
    assert f"exits_too raised {kind.__name__}: 3" in failures[1]  # raised, not "still running"


async def test_a_receiver_that_ignores_cancellation_is_left_behind_not_waited_for() -> None:
    signal = Signal()
    release = asyncio.Event()

    async def stubborn(**kwargs: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # goes on, as if nothing happened

    signal.connect(stubborn, weak=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    (failure,) = await dispatch.send(signal, "s", object, deadline=started + 0.1, bound="B")
    assert loop.time() - started < 0.1 + 0.1  # the deadline, and one pass of the loop
    assert failure.endswith(
        "stubborn was still running after B and was cancelled; it ignored the cancellation "
        "and is left running"
    )
    release.set()


async def test_cancelling_the_dispatch_cancels_the_receivers() -> None:
    signal = Signal()
    cancelled = asyncio.Event()
    running = asyncio.Event()

    async def waits(**kwargs: Any) -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    signal.connect(waits, weak=False)
    sending = asyncio.create_task(dispatch.send(signal, "s", object, deadline=far(), bound="B"))
    await running.wait()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    async with asyncio.timeout(5):
        await cancelled.wait()


def refuse(reason: str, **kwargs: Any) -> None:
    raise RuntimeError(reason)


async def test_receivers_of_every_kind_are_named_when_they_raise() -> None:
    class Callable:
        def __call__(self, **kwargs: Any) -> None:
            raise ValueError("object")

    with (
        connected(lifespan_started, functools.partial(refuse, "partial")),
        connected(lifespan_started, Callable()),
        pytest.raises(LifespanFailedError) as failed,
    ):
        async with lifespan():
            pass
    message = str(failed.value)
    assert "receiver functools.partial(tests.test_dispatch.refuse) raised RuntimeError" in message
    assert "Callable instance raised ValueError: object" in message


@override_settings(SESSIONHUB_SHUTDOWN_TIMEOUT=0.3)
async def test_a_hung_shutdown_receiver_is_cancelled_named_and_the_clients_close() -> None:
    cancelled = asyncio.Event()

    async def say_goodbye(**kwargs: Any) -> None:
        try:
            await asyncio.Event().wait()  # an upstream that never answers
        finally:
            cancelled.set()

    with connected(lifespan_finished, say_goodbye), pytest.raises(LifespanFailedError) as failed:
        async with lifespan():
            session = sessionhub.get()
    assert cancelled.is_set()
    assert session.closed
    assert (
        "lifespan_finished receiver tests.test_dispatch."
        "test_a_hung_shutdown_receiver_is_cancelled_named_and_the_clients_close.<locals>."
        "say_goodbye was still running after SESSIONHUB_SHUTDOWN_TIMEOUT (0.3 s) and was "
        "cancelled"
    ) in str(failed.value)


@override_settings(SESSIONHUB_STARTUP_TIMEOUT=0.3)
async def test_a_hung_startup_receiver_fails_startup_and_nothing_stays_open() -> None:
    async def warm_up(**kwargs: Any) -> None:
        sessionhub.get()
        await asyncio.Event().wait()

    with connected(lifespan_started, warm_up), pytest.raises(LifespanFailedError) as failed:
        async with lifespan():
            pytest.fail("startup should have failed")
    assert "warm_up was still running after SESSIONHUB_STARTUP_TIMEOUT (0.3 s)" in str(
        failed.value
    )
    assert open_sessions() == []


@override_settings(SESSIONHUB_SHUTDOWN_TIMEOUT=0.3)
async def test_a_hung_sync_receiver_is_reported_and_the_clients_close_anyway() -> None:
    release = threading.Event()
    ran: list[str] = []

    def flush_metrics(**kwargs: Any) -> None:
        release.wait(10)

    def after(**kwargs: Any) -> None:
        ran.append("after")

    try:
        with (
            connected(lifespan_finished, flush_metrics),
            connected(lifespan_finished, after),
            pytest.raises(LifespanFailedError) as failed,
        ):
            async with lifespan():
                session = sessionhub.get()
        assert session.closed
        message = str(failed.value)
        assert "flush_metrics was still running after SESSIONHUB_SHUTDOWN_TIMEOUT" in message
        assert "it is a sync receiver, which cannot be cancelled" in message
        assert "after did not run: a sync receiver before it was still running" in message
    finally:
        release.set()
    # Released, it finishes in its thread and tells a loop that stopped waiting.
    (thread,) = [t for t in threading.enumerate() if t.name == "sessionhub-receivers"]
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
    assert ran == ["after"]
    await asyncio.sleep(0)  # the loop runs the callback the thread left it


def test_sync_receivers_run_in_their_own_thread_which_closes_their_connections(
    django_db_blocker: Any,
) -> None:
    seen: list[str] = []
    closed: list[str] = []

    def uses_the_database(**kwargs: Any) -> None:
        connection = connections["default"]  # this thread's own
        connection.ensure_connection()
        close = connection.close

        def noting_close() -> None:
            closed.append(threading.current_thread().name)
            close()
            # Django keeps an in-memory SQLite database open through close()
            # (Python 3.13 warns of it when collected): close it for real.
            connection.connection.close()

        connection.close = noting_close  # type: ignore[method-assign]
        seen.append(threading.current_thread().name)

    async def main() -> None:
        async with lifespan():
            pass

    with django_db_blocker.unblock(), connected(lifespan_started, uses_the_database):
        asyncio.run(main())
    assert seen == ["sessionhub-receivers"]
    assert closed == ["sessionhub-receivers"]  # by that thread, after its receivers


class Unnameable:
    def __call__(self, **kwargs: Any) -> None:
        pass

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError("no attribute may be read")


def test_describe_names_anything_and_never_raises() -> None:
    assert describe(Unnameable()) == "<a callable that cannot be named>"
    assert describe(print) == "builtins.print"
    assert describe(functools.partial(print)) == "functools.partial(builtins.print)"
    assert describe(Unnameable) == "tests.test_dispatch.Unnameable"
