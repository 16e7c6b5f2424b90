from __future__ import annotations

import asyncio
import gc
import io
import logging
import socket
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Iterator

import aiohttp
import pytest
from django.test import override_settings

import sessionhub
from sessionhub import lifecycle, registry
from tests.helpers import open_sessions
from tests.upstream import Upstream


async def fetch(url: str) -> dict[str, object]:
    async with sessionhub.get().get(url) as response:
        response.raise_for_status()
        body: dict[str, object] = await response.json()
        return body


def test_get_without_a_running_loop_says_how_to_fix_it() -> None:
    with pytest.raises(sessionhub.NoRunningLoopError, match="needs a running event loop") as info:
        sessionhub.get()
    assert "MainThread" in str(info.value)
    assert "async" in str(info.value)


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


def test_same_session_within_a_loop_and_a_new_one_per_loop(upstream: Upstream) -> None:
    async def main() -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        first = sessionhub.get()
        await fetch(upstream.url)
        second = await asyncio.create_task(asyncio.sleep(0, sessionhub.get()))
        assert not first.closed
        return first, second

    a1, a2 = asyncio.run(main())
    b1, b2 = asyncio.run(main())
    assert a1 is a2
    assert b1 is b2
    assert a1 is not b1
    assert a1.closed and b1.closed
    assert open_sessions() == []


def test_sessions_share_connections_within_a_loop(upstream: Upstream) -> None:
    async def main() -> None:
        for _ in range(20):
            await fetch(upstream.url)

    asyncio.run(main())
    assert upstream.requests == 20
    assert len(upstream.peers) == 1


def test_session_keeps_no_cookies() -> None:
    async def main() -> None:
        assert isinstance(sessionhub.get().cookie_jar, aiohttp.DummyCookieJar)

    asyncio.run(main())


def test_thousands_of_tasks_asking_at_once_share_one_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def first_call(start: asyncio.Event) -> aiohttp.ClientSession:
        await start.wait()
        session: aiohttp.ClientSession = sessionhub.get()
        return session

    async def main() -> set[int]:
        start = asyncio.Event()
        tasks = [asyncio.create_task(first_call(start)) for _ in range(5000)]
        await asyncio.sleep(0)
        start.set()
        return {id(session) for session in await asyncio.gather(*tasks)}

    with caplog.at_level(logging.DEBUG, logger="sessionhub"):
        ids = asyncio.run(main())
    assert len(ids) == 1
    assert sum("created client 'default'" in r.message for r in caplog.records) == 1
    assert sum("closed client 'default'" in r.message for r in caplog.records) == 1


def test_two_hundred_sequential_loops_leave_nothing_behind(upstream: Upstream) -> None:
    seen: list[int] = []

    async def main() -> None:
        session = sessionhub.get()
        seen.append(id(session))
        await fetch(upstream.url)

    entries = len(registry.states)
    for _ in range(200):
        asyncio.run(main())
        # The loop's entry went with its session, not just the session.
        assert len(registry.states) <= entries
    assert open_sessions() == []
    assert upstream.requests == 200
    # Each loop had its own connection: sessions never crossed loops.
    assert len(upstream.peers) == 200


def test_loops_in_concurrent_threads_each_get_their_own_session(upstream: Upstream) -> None:
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


def test_uvloop_loops_get_and_close_their_own_sessions(upstream: Upstream) -> None:
    uvloop = pytest.importorskip("uvloop")
    sessions = []
    for _ in range(3):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert type(runner.get_loop()).__module__.startswith("uvloop")
            sessions.append(runner.run(main_fetch(upstream.url)))
    assert len({id(s) for s in sessions}) == 3
    assert all(s.closed for s in sessions)
    assert open_sessions() == []


async def main_fetch(url: str) -> aiohttp.ClientSession:
    await fetch(url)
    session: aiohttp.ClientSession = sessionhub.get()
    return session


def test_a_session_closed_at_loop_end_is_closed_before_the_loop(upstream: Upstream) -> None:
    async def main() -> aiohttp.ClientSession:
        await fetch(upstream.url)
        session: aiohttp.ClientSession = sessionhub.get()
        return session

    runner = asyncio.Runner()
    try:
        session = runner.run(main())
        loop = runner.get_loop()
        assert not session.closed
        assert loop in registry.states
    finally:
        runner.close()
    assert session.closed
    # What stays is a closed marker that no longer holds the loop.
    assert not registry.states[loop].clients
    loop_ref = weakref.ref(loop)
    del loop, runner, session
    gc.collect()
    assert loop_ref() is None


async def test_finished_lifespan_refuses_new_sessions() -> None:
    lifecycle.start()
    session = sessionhub.get()
    assert await lifecycle.end(loop_continues=False) == 1
    assert session.closed
    with pytest.raises(
        sessionhub.LifespanFinishedError, match="the server's ASGI lifespan on it has finished"
    ):
        sessionhub.get()
    # Nothing left to close the second time.
    assert await lifecycle.end(loop_continues=False) == 0


async def test_lifespan_without_a_session_still_marks_the_loop() -> None:
    lifecycle.start()
    assert await lifecycle.end(loop_continues=False) == 0
    with pytest.raises(sessionhub.LifespanFinishedError):
        sessionhub.get()


async def test_a_new_lifespan_on_the_same_loop_reopens_it() -> None:
    # e.g. a module-scoped pytest-asyncio loop running the app's lifespan per test
    lifecycle.start()
    first = sessionhub.get()
    assert await lifecycle.end(loop_continues=False) == 1
    lifecycle.start()
    second = sessionhub.get()
    assert second is not first and not second.closed
    assert await lifecycle.end(loop_continues=False) == 1
    assert second.closed


async def test_the_session_stays_open_until_the_last_lifespan_on_the_loop_ends() -> None:
    lifecycle.start()
    lifecycle.start()
    session = sessionhub.get()
    assert await lifecycle.end(loop_continues=False) == 0
    assert not session.closed
    assert sessionhub.get() is session
    assert await lifecycle.end(loop_continues=False) == 1
    assert session.closed


def test_errors_are_runtime_errors() -> None:
    assert issubclass(sessionhub.NoRunningLoopError, sessionhub.SessionhubError)
    assert issubclass(sessionhub.LifespanFinishedError, RuntimeError)


@pytest.mark.parametrize("had_session", [True, False])
def test_get_while_the_loop_shuts_down_is_refused_not_leaked(
    upstream: Upstream, had_session: bool
) -> None:
    outcome: list[BaseException | None] = []

    async def late_generator() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            # Finalized by shutdown_asyncgens(), alongside sessionhub's closer
            # and well after it has finished.
            for _ in range(20):
                await asyncio.sleep(0)
            try:
                sessionhub.get()
                outcome.append(None)
            except sessionhub.LifespanFinishedError as exc:
                outcome.append(exc)

    async def main() -> AsyncGenerator[None, None]:
        if had_session:
            await fetch(upstream.url)
        agen = late_generator()
        await agen.asend(None)
        return agen

    with asyncio.Runner() as runner:
        agen = runner.run(main())
    assert len(outcome) == 1
    assert isinstance(outcome[0], sessionhub.LifespanFinishedError)
    assert "loop is shutting down" in str(outcome[0])
    del agen


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_loops_closed_without_shutdown_asyncgens_are_reported_and_forgotten(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    # The pattern sessionhub cannot clean up after: nothing winds the loop down.
    loop = asyncio.new_event_loop()
    leaked = loop.run_until_complete(main_fetch(upstream.url))
    loop.close()
    assert loop in registry.states
    loop_ref = weakref.ref(loop)
    del loop

    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        asyncio.run(main_fetch(upstream.url))  # any new loop sweeps the registry
    assert [r.getMessage() for r in caplog.records if "shutdown_asyncgens" in r.getMessage()]
    assert open_sessions() == []
    assert not registry.defaults and not registry.visible
    del leaked
    gc.collect()
    assert loop_ref() is None, "the registry kept a closed loop alive"


class BrokenClose:
    """A client whose close fails, as a buggy FACTORY's might."""

    def __init__(self, config: object) -> None:
        pass

    async def aclose(self) -> None:
        raise OSError("socket already gone")


class SyncClose:
    """A client with a plain, synchronous close()."""

    def __init__(self, config: object) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


@override_settings(
    SESSIONHUB={
        "default": {},
        "broken": {"FACTORY": "tests.test_hub.BrokenClose"},
        "plain": {"FACTORY": "tests.test_hub.SyncClose"},
    }
)
async def test_a_client_that_fails_to_close_is_logged_and_the_others_still_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifecycle.start()
    await lifecycle.open_on_startup()
    session, plain = sessionhub.get(), sessionhub.get("plain")
    with caplog.at_level(logging.INFO, logger="sessionhub"):
        assert await lifecycle.end(loop_continues=False) == 2
    assert session.closed and plain.closed
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage().startswith("closing client 'broken' (tests.test_hub.BrokenClose)")
    assert failure.exc_info is not None
    assert "OSError: socket already gone" in caplog.text


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes handshakes but never reads: an upload to it never ends."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@override_settings(SESSIONHUB_CLOSE_TIMEOUT=0.3)
async def test_closing_past_the_bound_resets_the_connections_still_open(
    silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    lifecycle.start()
    session = sessionhub.get()
    outcome: list[BaseException] = []

    async def upload() -> None:
        try:
            async with session.post(
                f"http://127.0.0.1:{silent_port}/", data=io.BytesIO(b"x" * 2**24), timeout=None
            ):
                pass
        except aiohttp.ClientError as exc:
            outcome.append(exc)

    task = asyncio.create_task(upload())
    async with asyncio.timeout(10):
        while not session.connector._acquired:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # let the send buffers fill
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        assert await lifecycle.end(loop_continues=False) == 1
    assert 0.3 <= time.perf_counter() - started < 1.3
    assert "took longer than SESSIONHUB_CLOSE_TIMEOUT (0.3 s); aborting its 1 connection" in (
        caplog.text
    )
    await task
    assert len(outcome) == 1  # the upload failed instead of hanging
    assert session.closed


class NeverCloses:
    def __init__(self, config: object) -> None:
        pass

    async def aclose(self) -> None:
        await asyncio.Event().wait()


@override_settings(
    SESSIONHUB={"default": {}, "stuck": {"FACTORY": "tests.test_hub.NeverCloses"}},
    SESSIONHUB_CLOSE_TIMEOUT=0.2,
)
async def test_a_close_that_outlives_the_bound_and_the_reset_is_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifecycle.start()
    await lifecycle.open_on_startup()
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        assert await lifecycle.end(loop_continues=False) == 1  # "default" closed, "stuck" did not
    assert time.perf_counter() - started < 2.5
    assert "closing client(s) 'stuck' took longer" in caplog.text
