"""sessionhub.get() and the per-loop registry: one client per name and loop, closed once."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import weakref
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop

import sessionhub
from sessionhub import registry
from sessionhub.testing import open_clients
from tests.helpers import open_sessions
from tests.servers import ROOT
from tests.upstream import Upstream


async def fetch(url: str) -> dict[str, Any]:
    async with sessionhub.get().get(url) as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json()
        return body


async def default_session() -> aiohttp.ClientSession:
    session: aiohttp.ClientSession = sessionhub.get()
    return session


def test_get_without_a_running_loop_says_how_to_fix_it() -> None:
    with pytest.raises(sessionhub.NoRunningLoopError, match="needs a running event loop") as info:
        sessionhub.get("quotes")
    assert "sessionhub.get('quotes')" in str(info.value)
    assert "MainThread" in str(info.value)


def test_get_in_a_sync_thread_of_an_async_program_fails_clearly() -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            sessionhub.get()
        except BaseException as exc:
            errors.append(exc)

    async def main() -> None:
        await asyncio.to_thread(worker)

    asyncio.run(main())
    assert len(errors) == 1
    assert isinstance(errors[0], sessionhub.NoRunningLoopError)
    assert "asyncio_0" in str(errors[0])


def test_an_unknown_name_lists_the_configured_ones() -> None:
    async def main() -> None:
        with pytest.raises(sessionhub.UnknownClientError, match="the configured clients are"):
            sessionhub.get("")  # an empty name is a name, not "default"

    asyncio.run(main())


def test_same_client_within_a_loop_and_a_new_one_per_loop(upstream: Upstream) -> None:
    async def main() -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        first = sessionhub.get()
        await fetch(upstream.url)
        second = await asyncio.create_task(asyncio.sleep(0, sessionhub.get()))
        assert not first.closed
        return first, second

    a1, a2 = asyncio.run(main())
    b1, b2 = asyncio.run(main())
    assert a1 is a2 and b1 is b2 and a1 is not b1
    assert a1.closed and b1.closed
    assert open_sessions() == []


def test_clients_share_connections_within_a_loop(upstream: Upstream) -> None:
    async def main() -> None:
        for _ in range(20):
            await fetch(upstream.url)

    asyncio.run(main())
    assert upstream.requests == 20
    assert len(upstream.peers) == 1


def test_thousands_of_tasks_asking_at_once_share_one_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def first_call(start: asyncio.Event) -> int:
        await start.wait()
        return id(sessionhub.get())

    async def main() -> set[int]:
        start = asyncio.Event()
        tasks = [asyncio.create_task(first_call(start)) for _ in range(5000)]
        await asyncio.sleep(0)
        start.set()
        return set(await asyncio.gather(*tasks))

    with caplog.at_level(logging.DEBUG, logger="sessionhub"):
        ids = asyncio.run(main())
    assert len(ids) == 1
    assert sum("created client 'default'" in r.message for r in caplog.records) == 1
    assert sum("closed client 'default'" in r.message for r in caplog.records) == 1


def test_two_hundred_sequential_loops_leave_nothing_behind(upstream: Upstream) -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await fetch(upstream.url)

    for _ in range(200):
        asyncio.run(main())
    gc.collect()
    assert open_sessions() == []
    assert upstream.requests == 200
    # Each loop had its own connection: clients never crossed loops.
    assert len(upstream.peers) == 200
    # No loop is kept alive by the registry once it has ended.
    assert sum(ref() is not None for ref in loops) == 0


def test_loops_in_concurrent_threads_each_get_their_own_client(upstream: Upstream) -> None:
    barrier = threading.Barrier(4, timeout=10)
    sessions: dict[str, int] = {}

    async def main() -> None:
        session = sessionhub.get()
        await asyncio.to_thread(barrier.wait)  # all four loops alive at once
        assert sessionhub.get() is session
        await fetch(upstream.url)
        sessions[threading.current_thread().name] = id(session)

    threads = [threading.Thread(target=asyncio.run, args=(main(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(set(sessions.values())) == 4
    assert open_sessions() == []


def test_uvloop_loops_get_and_close_their_own_clients(upstream: Upstream) -> None:
    sessions = []
    for _ in range(3):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert type(runner.get_loop()).__module__.startswith("uvloop")
            runner.run(fetch(upstream.url))
            sessions.append(runner.run(default_session()))
    assert len({id(s) for s in sessions}) == 3
    assert all(s.closed for s in sessions)
    assert open_sessions() == []


def test_a_client_is_closed_before_its_loop_and_lets_the_loop_go(upstream: Upstream) -> None:
    runner = asyncio.Runner()
    try:
        runner.run(fetch(upstream.url))
        session = runner.run(default_session())
        assert not session.closed
        loop_ref = weakref.ref(runner.get_loop())
    finally:
        runner.close()
    assert session.closed
    del runner, session
    gc.collect()
    assert loop_ref() is None


async def close_later() -> AsyncGenerator[None, None]:
    """An async generator whose cleanup calls get(), wherever the loop runs it."""
    try:
        yield
    finally:
        for _ in range(20):  # well after sessionhub's own cleanup, at a loop's end
            await asyncio.sleep(0)
        try:
            sessionhub.get("default")
            outcomes.append(None)
        except sessionhub.LifespanFinishedError as exc:
            outcomes.append(exc)


outcomes: list[BaseException | None] = []


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
@pytest.mark.parametrize("had_client", [True, False])
def test_get_while_the_loop_winds_down_is_refused_not_leaked(
    upstream: Upstream, had_client: bool, loop_factory: Any
) -> None:
    async def main() -> AsyncGenerator[None, None]:
        if had_client:
            await fetch(upstream.url)
        agen = close_later()
        await agen.asend(None)
        return agen

    outcomes.clear()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        agen = runner.run(main())
    (outcome,) = outcomes
    assert isinstance(outcome, sessionhub.LifespanFinishedError)
    assert "while it winds down" in str(outcome)
    assert open_sessions() == []
    del agen


def test_uvloop_a_generator_collected_mid_loop_refuses_once_and_never_again() -> None:
    # uvloop cannot say when its shutdown began: a generator finalized by the
    # garbage collector looks the same. The refusal holds for that call only.
    async def main() -> int:
        agen = close_later()
        await agen.asend(None)
        del agen
        gc.collect()  # finalized now: the loop runs its cleanup as a task
        for _ in range(40):
            await asyncio.sleep(0)
        return id(sessionhub.get())  # a later first get() on the loop works

    outcomes.clear()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(main())
    assert [type(outcome) for outcome in outcomes] == [sessionhub.LifespanFinishedError]
    assert open_sessions() == []


def test_uvloop_with_a_client_a_collected_generator_gets_one_too(upstream: Upstream) -> None:
    # With a client (or a lifespan) the closer is parked, and any client built
    # later is closed with the others: nothing to refuse, ever.
    async def main() -> None:
        await fetch(upstream.url)
        agen = close_later()
        await agen.asend(None)
        del agen
        gc.collect()
        for _ in range(40):
            await asyncio.sleep(0)
        sessionhub.get("default")

    outcomes.clear()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert outcomes == [None]
    assert open_sessions() == []


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_loops_closed_without_shutdown_asyncgens_are_reported_and_forgotten(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    # The pattern sessionhub cannot clean up after: nothing winds the loop down.
    loop = asyncio.new_event_loop()
    leaked = loop.run_until_complete(fetch(upstream.url))
    loop.close()
    loop_ref = weakref.ref(loop)
    del loop
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        asyncio.run(fetch(upstream.url))  # any new loop sweeps the registry
    assert "was closed without loop.shutdown_asyncgens()" in caplog.text
    assert open_sessions() == []
    del leaked
    gc.collect()
    assert loop_ref() is None, "the registry kept a closed loop alive"


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
                fresh = asyncio.run(fetch(upstream.url))["ok"]
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


def test_a_forked_childs_registry_starts_empty_and_keeps_what_it_inherited() -> None:
    # The hook os.fork() runs in the child, run here so that coverage sees it
    # (the test above forks for real, where coverage does not follow).
    async def in_loop() -> None:
        sessionhub.get()
        lock = registry.lock
        registry._after_fork_in_child()
        try:
            assert open_clients() == [] and registry.lock is not lock
            states = registry.inherited[-1][0]
            assert states  # kept referenced: never finalized
            # The closer of an inherited loop leaves its clients to the parent
            # (whose pid a real child does not have).
            ((loop, state),) = states.items()
            state.pid = -1
            assert await registry._close_all(loop, state, ending=True) == 0
            state.pid = os.getpid()
        finally:
            states, defaults, visible = registry.inherited.pop()
            registry.states.update(states)
            registry.defaults.update(defaults)
            registry.visible.update(visible)

    asyncio.run(in_loop())
    assert open_clients() == []
