"""Every worker ends within its bounds, whatever a receiver does: real gunicorn, real uvicorn.

Each test runs the reference project with one misbehaving receiver
(``tests/hung_asgi.py``) under gunicorn with sessionhub's worker and checks
the time it takes against the budget the worker plans: a booting worker that
cannot start halts gunicorn, and a worker recycled by ``max_requests`` is
replaced within its shutdown bounds, not at gunicorn's WORKER TIMEOUT.
"""

from __future__ import annotations

import re
import time
import urllib.request
from typing import Any

import pytest

from sessionhub.workers import EXIT_GRACE
from tests.servers import (
    BIN,
    GUNICORN_READY,
    UVICORN_READY,
    assert_no_leaks,
    fetch,
    running,
    server_env,
    wait_for_halt,
)

pytestmark = pytest.mark.e2e

WAITING = "tests.hung_asgi.wait_for_ever"
# Each bound of the tests below, in seconds (SESSIONHUB_*_TIMEOUT).
BOUND = 0.5
# Seconds for what no bound covers: starting Python, Django and a worker.
BOOT = 10.0


def env(hung: str, **extra: str) -> dict[str, str]:
    seconds = str(BOUND)
    return server_env(
        DJANGO_SETTINGS_MODULE="tests.e2e_settings",
        HUNG=hung,
        SESSIONHUB_STARTUP_TIMEOUT=seconds,
        SESSIONHUB_SHUTDOWN_TIMEOUT=seconds,
        SESSIONHUB_CLOSE_TIMEOUT=seconds,
        **extra,
    )


def gunicorn(workers: int = 1, *args: str) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "-c",
        "deploy/gunicorn.conf.py",
        "--workers",
        str(workers),
        "--bind",
        "127.0.0.1:0",
        *args,
        "tests.hung_asgi:application",
    ]


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("block", "the lifespan startup did not end within its bounds"),
        ("exit", "raised SystemExit: 0"),
        ("sync-exit", "raised SystemExit: 1"),
    ],
)
def test_a_worker_that_cannot_start_halts_gunicorn_within_its_bounds(how: str, said: str) -> None:
    # Startup, and undoing it (shutdown and close bounds), then the grace to exit.
    budget = 3 * BOUND + EXIT_GRACE
    started = time.monotonic()
    with running(gunicorn(), ready=None, env=env(f"started:{how}")) as server:
        wait_for_halt(server, timeout=BOOT + budget + 30)
    took = time.monotonic() - started
    assert took < BOOT + budget, f"gunicorn halted after {took:.1f} s:\n{server.log}"
    assert said in server.log
    if how == "block":  # ended by the watchdog, which says where each thread was
        assert "Where each thread was:" in server.log
        assert "in block" in server.log  # the frame of the receiver that blocked
    else:
        assert "still running" not in server.log
    assert_no_leaks(server.log)


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("wait", None),
        ("thread", "the lifespan is over, and the process did not exit"),
        ("swallow", "the lifespan is over, and the process did not exit"),
        ("block", "the lifespan shutdown did not end within its bounds"),
    ],
)
def test_a_recycled_worker_is_replaced_within_its_shutdown_bounds(
    how: str, said: str | None, record_property: Any
) -> None:
    recycle = {"GUNICORN_MAX_REQUESTS": "2", "GUNICORN_MAX_REQUESTS_JITTER": "0"}
    with running(gunicorn(), ready=GUNICORN_READY, env=env(f"finished:{how}", **recycle)) as (
        server
    ):
        health = f"{server.base_url}/health/"
        pid = fetch(health)[1]["pid"]
        fetch(health)  # the second request: the worker retires at its next tick
        server.wait_for("Maximum request limit of 2 exceeded")
        recycled = time.monotonic()
        # A request now waits in the listen queue until the replacement serves it.
        status, body = fetch(health, timeout=BOOT + 30)
        took = time.monotonic() - recycled
        assert status == 200 and body["pid"] != pid, body
    record_property("replacement_seconds", round(took, 2))
    log = server.log
    # The receiver's bound, the close bound, the grace to exit; then a new worker boots.
    assert took < 2 * BOUND + EXIT_GRACE + BOOT, f"replaced after {took:.1f} s:\n{log}"
    if how != "block":  # a blocked loop closes nothing: ending the process does
        assert re.search(rf"\[{pid}\] .*closed client 'default'", log), log
    if said is None:
        assert "Where each thread was:" not in log  # it exited on its own
    else:
        assert f"[sessionhub] pid {pid}: {said}" in log
        assert "Where each thread was:" in log
        assert f"Worker (pid:{pid}) exited with code 1" in log
    assert_no_leaks(log)


def test_a_hung_shutdown_receiver_cannot_keep_gunicorn_past_graceful_timeout(
    record_property: Any,
) -> None:
    with running(
        gunicorn(2), ready=GUNICORN_READY, env=env("finished", GUNICORN_GRACEFUL_TIMEOUT="8")
    ) as server:
        server.wait_for(r"(?s)(lifespan started.*){2}")  # both workers
        with urllib.request.urlopen(f"{server.base_url}/health/", timeout=10) as response:
            assert response.status == 200
        started = time.monotonic()
        code = server.terminate(timeout=20)
        seconds = time.monotonic() - started
    record_property("shutdown_seconds", round(seconds, 2))
    log = server.log
    assert code == 0, log
    assert seconds < 8, f"gunicorn took {seconds:.1f} s, graceful_timeout is 8 s"
    workers = set(re.findall(r"\[(\d+)\] \[INFO\] sessionhub: lifespan started", log))
    assert len(workers) == 2
    # Each worker cancelled the receiver, said which, and still closed its client.
    for pid in workers:
        assert re.search(
            rf"\[{pid}\] .*lifespan_finished receiver {WAITING} was still running", log
        )
        assert re.search(rf"\[{pid}\] .*closed client 'default'", log)
    assert_no_leaks(log)


def test_a_hung_startup_receiver_makes_uvicorn_exit_3_naming_it() -> None:
    args = [str(BIN / "uvicorn"), "tests.hung_asgi:application", "--port", "0"]
    with running(args, ready=None, env=env("started")) as server:
        code = server.process.wait(30)
    assert code == 3, server.log
    assert f"lifespan_started receiver {WAITING} was still running after " in server.log
    assert "SESSIONHUB_STARTUP_TIMEOUT (0.5 s)" in server.log
    assert "Application startup failed. Exiting." in server.log
    assert_no_leaks(server.log)


def test_a_hung_startup_receiver_makes_gunicorn_halt() -> None:
    with running(gunicorn(), ready=None, env=env("started")) as server:
        wait_for_halt(server)
    assert f"lifespan_started receiver {WAITING} was still running" in server.log
    assert_no_leaks(server.log)


def test_uvicorn_on_sigterm_exits_even_with_a_receiver_in_a_thread() -> None:
    # What sessionhub cannot do without owning the process it leaves to the
    # server: uvicorn re-raises SIGTERM once its lifespan is over.
    args = [str(BIN / "uvicorn"), "tests.hung_asgi:application", "--port", "0"]
    with running(args, ready=UVICORN_READY, env=env("finished:thread")) as server:
        assert server.terminate(timeout=20) != 0
    assert "lifespan finished: closed 1 client(s)" in server.log
