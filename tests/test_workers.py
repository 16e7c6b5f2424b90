"""sessionhub's gunicorn worker, run in-process on a real socket with real uvicorn.

The same worker runs under real gunicorn in test_production.py and
test_bounds.py. In process, its watchdog is given a long grace and disarmed
once the worker has run: it must never end the test run.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings
from gunicorn.config import Config
from gunicorn.glogging import Logger

from sessionhub import conf, workers
from sessionhub.admission import Admission
from sessionhub.asgi import LifespanASGIHandler
from sessionhub.workers import MARGIN, REQUESTS_AT_LEAST, UvicornWorker, plan
from tests.helpers import open_sessions


class _App:
    """What gunicorn hands a worker: something whose wsgi() loads the application."""

    def wsgi(self) -> LifespanASGIHandler:
        return LifespanASGIHandler()


@pytest.fixture
def worker_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], UvicornWorker]]:
    """Build workers the way gunicorn's arbiter does, on a listening socket of our own."""
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    saved = [(logger.handlers, logger.level, logger.propagate) for logger in uvicorn_loggers]
    sockets: list[socket.socket] = []
    made: list[UvicornWorker] = []
    monkeypatch.setattr(workers, "EXIT_GRACE", 600.0)

    def make(graceful_timeout: int) -> UvicornWorker:
        cfg = Config()
        cfg.set("graceful_timeout", graceful_timeout)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sockets.append(listener)
        worker = UvicornWorker(0, os.getpid(), [listener], _App(), 30, cfg, Logger(cfg))
        made.append(worker)
        return worker

    try:
        yield make
    finally:
        conf.limit({})
        for listener in sockets:
            listener.close()
        for worker in made:
            worker.tmp.close()  # gunicorn's heartbeat file
            if isinstance(worker.wsgi, workers._Supervised):
                worker.wsgi.watchdog.disarm()
        for logger, (handlers, level, propagate) in zip(uvicorn_loggers, saved, strict=True):
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def answers(port: int) -> bool:
    try:
        return health(port) == 200
    except OSError:
        return False


def test_the_budget_gives_requests_what_the_settings_leave() -> None:
    budget = plan(30, drain=2, shutdown=10, close=5)
    assert (budget.drain, budget.shutdown, budget.close) == (2, 10, 5)
    assert budget.requests == 30 - MARGIN - 17
    assert not budget.shrunk


def test_the_budget_scales_the_settings_down_to_fit() -> None:
    budget = plan(6, drain=0, shutdown=5, close=5)
    assert budget.shrunk
    assert budget.requests == REQUESTS_AT_LEAST
    total = budget.drain + budget.requests + budget.shutdown + budget.close + MARGIN
    assert total == pytest.approx(6)
    # One factor for all: close keeps its share of the shutdown.
    assert budget.close == budget.shutdown == pytest.approx((6 - MARGIN - REQUESTS_AT_LEAST) / 2)
    assert plan(1, drain=1, shutdown=1, close=1).close == 0


def serve(worker: UvicornWorker, drive: Callable[[int], None]) -> list[int]:
    """Run ``worker`` in the main thread (where uvicorn handles signals) while ``drive(port)``
    runs in another; return the signals uvicorn re-raised once stopped."""
    raised: list[int] = []
    errors: list[BaseException] = []
    port = worker.sockets[0].getsockname()[1]

    def driving() -> None:
        try:
            drive(port)
        except BaseException as exc:
            errors.append(exc)

    # uvicorn re-raises the signal it stopped on; here it must not end pytest.
    previous = {
        sig: signal.signal(sig, lambda sig, frame: raised.append(sig))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    driver = threading.Thread(target=driving)
    try:
        driver.start()
        worker.run()
    finally:
        worker.wsgi.watchdog.disarm()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        driver.join(10)
    if errors:
        raise errors[0]
    return raised


@override_settings(SESSIONHUB_DRAIN_SECONDS=0.6, SESSIONHUB_CLOSE_TIMEOUT=3)
def test_the_worker_drains_on_sigterm_then_stops_within_graceful_timeout(
    worker_factory: Callable[[int], UvicornWorker],
) -> None:
    worker = worker_factory(20)
    worker.load_wsgi()
    assert worker.config.timeout_graceful_shutdown == pytest.approx(20 - 0.6 - 5 - 3 - MARGIN)
    assert worker.wsgi.watchdog is not None
    seen: dict[str, float] = {}

    def drive(port: int) -> None:
        poll(lambda: answers(port), 10, "health 200")
        seen["begun"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        poll(lambda: health(port) == 503, 5, "health 503 while draining")
        seen["draining"] = time.monotonic()

    raised = serve(worker, drive)
    stopped = time.monotonic()
    # It drained (still answering, with 503) for the drain time, then stopped.
    assert seen["draining"] - seen["begun"] < 0.6
    assert 0.6 <= stopped - seen["begun"] < 3
    assert raised == [signal.SIGTERM]
    assert open_sessions() == []


@override_settings(SESSIONHUB_DRAIN_SECONDS=30)
def test_a_second_signal_ends_the_drain_at_once(
    worker_factory: Callable[[int], UvicornWorker],
) -> None:
    worker = worker_factory(60)
    worker.load_wsgi()
    seen: dict[str, float] = {}

    def drive(port: int) -> None:
        poll(lambda: answers(port), 10, "health 200")
        os.kill(os.getpid(), signal.SIGTERM)
        poll(lambda: health(port) == 503, 5, "health 503 while draining")
        seen["second"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    raised = serve(worker, drive)
    # A fraction of the 30 s drain: the second signal ended it.
    assert time.monotonic() - seen["second"] < 30 / 3
    assert raised == [signal.SIGINT]
    assert open_sessions() == []


async def test_without_uvicorns_signal_handlers_the_worker_serves_on_without_a_drain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})

    async def send(message: Any) -> None:
        sent.append(message)

    # Under pytest, SIGTERM has no Python handler (uvicorn would have put one).
    supervised = workers._Supervised(app, plan(30, drain=1, shutdown=5, close=5))
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        await supervised({"type": "lifespan"}, None, send)
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert "cannot drain: uvicorn installed no handler for SIGTERM" in caplog.text


@override_settings(SESSIONHUB_DRAIN_SECONDS=0, SESSIONHUB_CLOSE_TIMEOUT=5)
def test_a_graceful_timeout_too_short_for_the_settings_shrinks_the_bounds_and_says_so(
    worker_factory: Callable[[int], UvicornWorker], caplog: pytest.LogCaptureFixture
) -> None:
    worker = worker_factory(5)
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        worker.load_wsgi()
    assert worker.config.timeout_graceful_shutdown == REQUESTS_AT_LEAST
    assert conf.shutdown_timeout() == pytest.approx(conf.close_timeout())
    assert conf.shutdown_timeout() + conf.close_timeout() == pytest.approx(
        5 - MARGIN - REQUESTS_AT_LEAST
    )
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("gunicorn's graceful_timeout (5 s) cannot hold")
    assert "Raise graceful_timeout or lower the settings" in line


@override_settings(SESSIONHUB_CLOSE_TIMEOUT=-1)
def test_a_worker_with_invalid_shutdown_settings_refuses_to_boot(
    worker_factory: Callable[[int], UvicornWorker], caplog: pytest.LogCaptureFixture
) -> None:
    worker = worker_factory(30)
    with caplog.at_level(logging.ERROR, logger="sessionhub"), pytest.raises(SystemExit) as exit:
        worker.load_wsgi()
    assert exit.value.code == 3  # gunicorn halts instead of booting workers in a loop
    assert "SESSIONHUB_CLOSE_TIMEOUT" in caplog.text


@override_settings(SESSIONHUB_DRAIN_SECONDS=0)
def test_without_a_drain_sigterm_stops_the_worker_at_once(
    worker_factory: Callable[[int], UvicornWorker],
) -> None:
    worker = worker_factory(30)
    worker.load_wsgi()
    begun: list[float] = []

    def drive(port: int) -> None:
        poll(lambda: answers(port), 10, "health 200")
        begun.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    assert serve(worker, drive) == [signal.SIGTERM]
    # A fraction of graceful_timeout (30 s): without a drain it stops at once.
    assert time.monotonic() - begun[0] < 30 / 6


def test_the_worker_bounds_requests_in_flight_not_connections(
    worker_factory: Callable[[int], UvicornWorker],
) -> None:
    worker = worker_factory(30)
    worker.cfg.set("worker_connections", 64)  # not passed on: uvicorn counts idle ones
    worker.load_wsgi()
    assert worker.config.limit_concurrency is None
    door = worker.wsgi.app
    assert isinstance(door, Admission) and door.limit == 1000
    assert isinstance(door.app, LifespanASGIHandler)
    with override_settings(SESSIONHUB_MAX_REQUESTS_IN_FLIGHT=0):
        unbounded = worker_factory(30)
        unbounded.load_wsgi()
    assert isinstance(unbounded.wsgi.app, LifespanASGIHandler)


@pytest.mark.parametrize(
    ("failed", "code", "why"),
    [
        ("startup", 3, "the lifespan startup failed, and the process did not exit"),
        ("shutdown", 1, "the lifespan is over, and the process did not exit"),
        ("", 1, "the lifespan is over, and the process did not exit"),
    ],
)
async def test_the_watchdog_follows_the_lifespan(
    monkeypatch: pytest.MonkeyPatch, failed: str, code: int, why: str
) -> None:
    monkeypatch.setattr(workers, "EXIT_GRACE", 600.0)  # it must never fire here
    armed: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup: armed for the startup's bounds
        armed.append(supervised.watchdog.armed)
        if failed == "startup":
            await send({"type": "lifespan.startup.failed", "message": "no"})
            return
        await send({"type": "lifespan.startup.complete"})  # disarmed
        armed.append(supervised.watchdog.armed)
        await receive()  # lifespan.shutdown: armed for the shutdown's bounds
        armed.append(supervised.watchdog.armed)
        kind = "failed" if failed else "complete"
        await send({"type": f"lifespan.shutdown.{kind}"})

    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        pass

    supervised = workers._Supervised(app, plan(60, drain=0, shutdown=5, close=5))
    try:
        await supervised({"type": "lifespan"}, receive, send)
        final = supervised.watchdog.armed
    finally:
        supervised.watchdog.disarm()
    assert armed[0] is not None
    assert armed[0][1:] == (3, workers._overran("startup", conf.startup_timeout() + 610))
    if failed != "startup":
        assert armed[1] is None
        assert armed[2] is not None and armed[2][1] == 1
    assert final is not None and final[1:] == (code, why)
