"""Lifespans at the edges: long-lived loops, overlap, bounds, overrides, fork, uvloop."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop
from django.test import override_settings

import sessionhub
from sessionhub import lifecycle
from sessionhub.signals import lifespan_finished, lifespan_started
from sessionhub.testing import LifespanFailedError, lifespan, open_clients, override_client
from tests.helpers import connected, open_sessions
from tests.servers import ROOT
from tests.upstream import Upstream


async def fetch(url: str) -> dict[str, Any]:
    async with sessionhub.get().get(url) as response:
        body: dict[str, Any] = await response.json()
        return body


async def test_after_a_test_lifespan_the_loop_works_again(upstream: Upstream) -> None:
    async with lifespan():
        during = sessionhub.get()
    assert during.closed
    after = sessionhub.get()  # no LifespanFinishedError: the loop goes on
    assert after is not during and not after.closed
    assert (await fetch(upstream.url))["ok"] is True
    # A next lifespan on the loop closes what was opened in between.
    async with lifespan():
        assert sessionhub.get() is after
    assert after.closed


async def test_after_a_server_lifespan_the_loop_refuses_new_clients() -> None:
    lifecycle.start()
    sessionhub.get()
    assert await lifecycle.end(loop_continues=False) == 1
    with pytest.raises(sessionhub.LifespanFinishedError, match="may end the process"):
        sessionhub.get()
    lifecycle.start()  # a new lifespan reopens it
    assert not sessionhub.get().closed
    assert await lifecycle.end(loop_continues=True) == 1


async def test_overlapping_lifespans_close_only_when_the_last_ends() -> None:
    async with lifespan():
        first = sessionhub.get()
        async with lifespan():
            assert sessionhub.get() is first
        assert not first.closed  # the outer lifespan still runs
        assert sessionhub.get() is first
    assert first.closed


class SlowClose:
    """A client whose close takes a while, during which another lifespan starts."""

    released = asyncio.Event

    def __init__(self, config: object) -> None:
        self.closed = False
        self.release = asyncio.Event()

    async def aclose(self) -> None:
        await self.release.wait()
        self.closed = True


async def test_a_lifespan_that_ends_never_closes_a_later_lifespans_clients() -> None:
    with override_settings(SESSIONHUB={"default": {"FACTORY": "tests.test_lifecycle.SlowClose"}}):
        lifecycle.start()  # lifespan A
        old = sessionhub.get()
        ending = asyncio.create_task(lifecycle.end(loop_continues=False))
        await asyncio.sleep(0)  # A is closing its clients now
        lifecycle.start()  # lifespan B starts meanwhile
        new = sessionhub.get()
        assert new is not old
        old.release.set()
        assert await ending == 1
        # A's close finished; B's client is open and still served.
        assert old.closed and not new.closed
        assert sessionhub.get() is new
        new.release.set()
        assert await lifecycle.end(loop_continues=True) == 1
        assert new.closed


@override_settings(SESSIONHUB_SHUTDOWN_TIMEOUT=0.3)
async def test_a_hung_shutdown_receiver_is_cancelled_named_and_the_clients_close() -> None:
    cancelled = asyncio.Event()

    async def say_goodbye(**kwargs: Any) -> None:
        try:
            await asyncio.Event().wait()  # an upstream that never answers
        finally:
            cancelled.set()

    with connected(lifespan_finished, say_goodbye):
        started = time.monotonic()
        with pytest.raises(LifespanFailedError) as failed:
            async with lifespan():
                session = sessionhub.get()
    assert time.monotonic() - started < 2
    assert cancelled.is_set()
    assert session.closed
    assert (
        "lifespan_finished receiver tests.test_lifecycle."
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
    await asyncio.sleep(0)  # the loop runs the callback the thread left it


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
    assert "receiver functools.partial(tests.test_lifecycle.refuse) raised RuntimeError" in (
        message
    )
    assert "Callable instance raised ValueError: object" in message


async def test_ending_an_override_closes_what_it_built(upstream: Upstream) -> None:
    built: list[aiohttp.ClientSession] = []

    def factory(config: Any) -> aiohttp.ClientSession:
        built.append(aiohttp.ClientSession())
        return built[-1]

    real = sessionhub.get()
    for _ in range(30):
        with override_client("default", factory):
            assert sessionhub.get() is built[-1]
        # Closing is handed to the loop; let it run.
        async with asyncio.timeout(5):
            while not built[-1].closed:
                await asyncio.sleep(0)
    assert all(session.closed for session in built)
    assert [entry.client for entry in open_clients()] == [real]


def test_an_override_ended_outside_its_loop_is_closed_by_that_loop() -> None:
    built: list[aiohttp.ClientSession] = []

    async def use() -> None:
        built.append(sessionhub.get())

    with asyncio.Runner() as runner:
        override = override_client("default", lambda config: aiohttp.ClientSession())
        override.enable()
        runner.run(use())
        override.disable()  # the loop is not running now
        assert not built[0].closed
        assert [entry.retiring for entry in open_clients()] == [True]
        runner.run(asyncio.sleep(0.05))  # it runs again: the close is done there
        assert built[0].closed
    assert open_clients() == []


def test_a_forked_child_never_uses_or_closes_its_parents_clients(upstream: Upstream) -> None:
    read, write = os.pipe()
    with asyncio.Runner() as runner:
        runner.run(fetch(upstream.url))
        (parent,) = open_clients()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(read)
                inherited = open_clients()
                runner.close()  # winds the inherited loop down: its closer must not act
                fresh = asyncio.run(_child_fetch(upstream.url))
                ok = inherited == [] and not parent.client.closed and fresh
                os.write(write, b"ok" if ok else repr((inherited, fresh)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        answer = os.read(read, 1000)
        os.close(read)
        assert os.waitstatus_to_exitcode(status) == 0
        assert answer == b"ok"
        # The parent's pooled connection was left alone: it serves on, no new one.
        peers = set(upstream.peers)
        runner.run(fetch(upstream.url))
        assert upstream.peers == peers
        assert not parent.client.closed
    assert parent.client.closed


async def _child_fetch(url: str) -> bool:
    return (await fetch(url))["ok"] is True


def test_uvloop_refuses_a_first_client_while_its_loop_shuts_down() -> None:
    outcome: list[BaseException | None] = []

    async def late() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            try:
                sessionhub.get()  # the first get() on this loop, during its shutdown
                outcome.append(None)
            except sessionhub.LifespanFinishedError as exc:
                outcome.append(exc)

    async def main() -> AsyncGenerator[None, None]:
        agen = late()
        await agen.asend(None)
        return agen

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        agen = runner.run(main())
    assert len(outcome) == 1 and isinstance(outcome[0], sessionhub.LifespanFinishedError)
    assert open_sessions() == []
    del agen


def test_uvloop_refuses_clients_once_its_closer_has_run(upstream: Upstream) -> None:
    outcome: list[BaseException | None] = []

    async def late() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            for _ in range(20):  # well after sessionhub's closer has run
                await asyncio.sleep(0)
            try:
                sessionhub.get()
                outcome.append(None)
            except sessionhub.LifespanFinishedError as exc:
                outcome.append(exc)

    async def main() -> AsyncGenerator[None, None]:
        await fetch(upstream.url)
        agen = late()
        await agen.asend(None)
        return agen

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        agen = runner.run(main())
    assert len(outcome) == 1 and isinstance(outcome[0], sessionhub.LifespanFinishedError)
    assert "loop is shutting down" in str(outcome[0])
    del agen


SESSION_LOOP_TESTS = """
import pytest
import sessionhub
from sessionhub.testing import lifespan, open_clients, override_client

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_runs_a_lifespan():
    async with lifespan():
        assert not sessionhub.get().closed


async def test_b_plain_get_works_afterwards():
    assert not sessionhub.get().closed


@pytest.mark.parametrize("n", range(30))
async def test_c_overrides_do_not_pile_up(n):
    import aiohttp
    with override_client("default", lambda config: aiohttp.ClientSession()):
        sessionhub.get()
    assert len(open_clients()) <= 3
"""


def test_a_session_scoped_pytest_asyncio_loop_outlives_lifespans(tmp_path: Path) -> None:
    (tmp_path / "test_long_loop.py").write_text(textwrap.dedent(SESSION_LOOP_TESTS))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-c",
            os.devnull,
            "-o",
            "asyncio_mode=strict",
            "-o",
            "asyncio_default_fixture_loop_scope=session",
            "-W",
            "error",
            str(tmp_path / "test_long_loop.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "32 passed" in result.stdout


async def test_the_loops_end_waits_for_an_override_close_in_progress() -> None:
    with override_settings(
        SESSIONHUB={"default": {}, "slow": {"FACTORY": "tests.test_lifecycle.SlowClose"}}
    ):
        lifecycle.start()
        with override_client("slow", SlowClose):
            slow = sessionhub.get("slow")
        await asyncio.sleep(0)  # the override's close has begun and waits
        ending = asyncio.create_task(lifecycle.end(loop_continues=True))
        await asyncio.sleep(0.05)
        assert not ending.done()  # it waits for the close in progress
        slow.release.set()
        await ending
        assert slow.closed


def test_a_forked_childs_registry_starts_empty_and_keeps_what_it_inherited() -> None:
    # The hook os.fork() runs in the child, run here so that coverage sees it;
    # test_a_forked_child_never_uses_or_closes_its_parents_clients forks for real.
    from sessionhub import registry

    async def in_loop() -> None:
        sessionhub.get()
        state = registry.states[asyncio.get_running_loop()]
        lock = registry.lock
        registry._after_fork_in_child()
        try:
            assert open_clients() == [] and registry.lock is not lock
            assert registry.inherited[-1][0]  # kept referenced: never finalized
            # A state of another process is never closed here.
            state.pid = -1
            assert await registry.close_all(asyncio.get_running_loop(), state, then=None) == 0
        finally:
            state.pid = os.getpid()
            states, defaults, visible = registry.inherited.pop()
            registry.states.update(states)
            registry.defaults.update(defaults)
            registry.visible.update(visible)

    asyncio.run(in_loop())
    assert open_clients() == []


async def test_an_override_ended_just_before_its_loops_lifespan_ends_is_closed_once() -> None:
    lifecycle.start()
    with override_client("default", lambda config: aiohttp.ClientSession()):
        session = sessionhub.get()
    # The lifespan's end takes the retired client before the loop runs the
    # close the override handed it; that close then finds nothing to do.
    assert await lifecycle.end(loop_continues=True) == 1
    assert session.closed
    await asyncio.sleep(0)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_override_of_a_loop_closed_without_cleanup_is_left_to_be_forgotten() -> None:
    loop = asyncio.new_event_loop()
    override = override_client("default", lambda config: aiohttp.ClientSession())
    override.enable()
    loop.run_until_complete(_use_default())
    loop.close()  # without shutdown_asyncgens(): nothing can close its clients now
    override.disable()  # schedules nothing on the closed loop
    asyncio.run(_use_default())  # a new loop sweeps the closed one away
    assert open_clients() == []


async def _use_default() -> None:
    sessionhub.get()
