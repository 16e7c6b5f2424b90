"""The reference project under real uvicorn and gunicorn, talking to a real upstream."""

from __future__ import annotations

import collections
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import pytest

from tests.servers import (
    BIN,
    GUNICORN_READY,
    UVICORN_READY,
    Server,
    assert_clean,
    assert_no_leaks,
    count_by_pid,
    get_json,
    gunicorn_command,
    running,
    server_env,
    stop,
    uvicorn_command,
    wait_for_halt,
)
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

# uvicorn re-raises the signal it stopped on once it has shut down cleanly.
UVICORN_STOPPED = -signal.SIGTERM


def test_uvicorn_serves_every_request_with_one_session(upstream: Upstream) -> None:
    env = server_env(DEMO_UPSTREAM_URL=upstream.url)
    with running(uvicorn_command("--lifespan", "on"), ready=UVICORN_READY, env=env) as server:
        bodies = [get_json(server.base_url) for _ in range(30)]
        assert server.terminate() == UVICORN_STOPPED
    assert len({b["session"] for b in bodies}) == 1
    assert len({b["pid"] for b in bodies}) == 1
    assert upstream.requests == 30
    # Pooled: one upstream connection served all 30 requests.
    assert len(upstream.peers) == 1
    log = server.log
    assert "Finished server process" in log
    assert len(count_by_pid(log, "lifespan started")) == 1
    assert sum(count_by_pid(log, "created client 'default'").values()) == 1
    assert re.search(r"lifespan finished: closed 1 client\(s\)", log)
    assert_clean(log)


def test_uvicorn_without_lifespan_closes_the_session_at_loop_end(upstream: Upstream) -> None:
    env = server_env(DEMO_UPSTREAM_URL=upstream.url)
    with running(uvicorn_command("--lifespan", "off"), ready=UVICORN_READY, env=env) as server:
        bodies = [get_json(server.base_url) for _ in range(10)]
        # Only SIGINT lets uvicorn's loop wind down (its re-raised SIGTERM
        # ends the process inside the loop); the README's table says so.
        assert server.terminate(sig=signal.SIGINT) == 0
    assert len({b["session"] for b in bodies}) == 1
    log = server.log
    assert "lifespan started" not in log
    assert sum(count_by_pid(log, "created client 'default'").values()) == 1
    assert sum(count_by_pid(log, "closed client 'default'").values()) == 1
    assert_clean(log)


def test_hypercorn_runs_the_lifespan_too(upstream: Upstream) -> None:
    args = [str(BIN / "hypercorn"), "--bind", "127.0.0.1:0", "config.asgi:application"]
    env = server_env(DEMO_UPSTREAM_URL=upstream.url)
    with running(args, ready=r"Running on http://127\.0\.0\.1:(\d+)", env=env) as server:
        bodies = [get_json(server.base_url) for _ in range(10)]
        assert server.terminate() == 0
    assert len({b["session"] for b in bodies}) == 1
    assert len(upstream.peers) == 1
    log = server.log
    assert sum(count_by_pid(log, "lifespan started").values()) == 1
    assert re.search(r"lifespan finished: closed 1 client\(s\)", log)
    assert_clean(log)


def test_uvicorn_demo_reaches_the_embedded_upstream() -> None:
    with running(uvicorn_command("--lifespan", "on"), ready=UVICORN_READY) as server:
        body = get_json(server.base_url)
        assert server.terminate() == UVICORN_STOPPED
    assert body["upstream"] == {"message": "hello from the embedded upstream", "pid": body["pid"]}
    assert_clean(server.log)


def test_uvicorn_refuses_to_start_when_a_receiver_raises() -> None:
    args = [str(BIN / "uvicorn"), "tests.failing_asgi:application", "--port", "0"]
    with running([*args, "--lifespan", "on"], ready=None) as server:
        assert server.process.wait(30) == 3
    log = server.log
    assert (
        "lifespan_started receiver tests.failing_asgi.refuse_to_start raised "
        "RuntimeError: UPSTREAM_TOKEN is not set"
    ) in log
    assert "Application startup failed. Exiting." in log
    assert "Uvicorn running" not in log
    assert re.search(r"closed client 'default'", log)  # the app's own session did not leak
    assert_no_leaks(log)


def spread_over_workers(server: Server, workers: int) -> list[dict[str, Any]]:
    """Send concurrent requests until every worker has answered (bounded)."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(8) as pool:
        for _ in range(20):  # at most 20 x 16 requests
            bodies += pool.map(get_json, [server.base_url] * 16)
            if len({b["pid"] for b in bodies}) >= workers or time.monotonic() > deadline:
                break
    return bodies


def test_gunicorn_gives_each_worker_its_own_session(upstream: Upstream) -> None:
    graceful = 30
    env = server_env(
        DEMO_UPSTREAM_URL=upstream.url,
        WEB_CONCURRENCY="2",
        GUNICORN_BIND="127.0.0.1:0",
        GUNICORN_GRACEFUL_TIMEOUT=str(graceful),
    )
    with running(gunicorn_command(), ready=GUNICORN_READY, env=env) as server:
        server.wait_for(r"(?s)(Application startup complete.*){2}")
        bodies = spread_over_workers(server, 2)
        code, stop_seconds = stop(server)
    assert code == 0
    sessions_by_pid: dict[object, set[object]] = collections.defaultdict(set)
    for body in bodies:
        sessions_by_pid[body["pid"]].add(body["session"])
    assert len(sessions_by_pid) == 2, sessions_by_pid
    assert all(len(sessions) == 1 for sessions in sessions_by_pid.values()), sessions_by_pid
    log = server.log
    pids = {str(pid) for pid in sessions_by_pid}
    assert count_by_pid(log, "lifespan started") == dict.fromkeys(pids, 1)
    assert count_by_pid(log, "created client 'default'") == dict.fromkeys(pids, 1)
    assert count_by_pid(log, r"lifespan finished: closed 1 client") == dict.fromkeys(pids, 1)
    assert "Shutting down: Master" in log
    # Idle workers stop at once: gunicorn did not wait out graceful_timeout.
    assert stop_seconds < graceful / 3, f"gunicorn took {stop_seconds:.1f}s to stop"
    assert "SIGKILL" not in log
    assert_clean(log)


def test_gunicorn_recycled_workers_close_their_sessions(upstream: Upstream) -> None:
    env = server_env(
        DEMO_UPSTREAM_URL=upstream.url,
        WEB_CONCURRENCY="1",
        GUNICORN_BIND="127.0.0.1:0",
        GUNICORN_MAX_REQUESTS="5",
        GUNICORN_MAX_REQUESTS_JITTER="0",
    )
    bodies: list[dict[str, Any]] = []
    with running(gunicorn_command(), ready=GUNICORN_READY, env=env) as server:
        deadline = time.monotonic() + 30
        while len(bodies) < 12 and time.monotonic() < deadline:
            with suppress(OSError):  # between a retired worker and its successor
                bodies.append(get_json(server.base_url))
            # uvicorn checks its request count every 0.1 s: pace the requests
            # so each worker is retired close to its limit.
            time.sleep(0.15)
        assert server.terminate() == 0
    assert len(bodies) == 12
    assert len({b["pid"] for b in bodies}) >= 2
    log = server.log
    assert "Maximum request limit of 5 exceeded" in log
    # Every worker, retired or stopped, closed exactly the one session it opened.
    opened = count_by_pid(log, "created client 'default'")
    assert {str(b["pid"]) for b in bodies} <= opened.keys()
    assert set(opened.values()) == {1}
    assert count_by_pid(log, r"lifespan finished: closed 1 client") == opened
    assert_clean(log)


def test_gunicorn_halts_when_a_worker_cannot_start() -> None:
    env = server_env(WEB_CONCURRENCY="1", GUNICORN_BIND="127.0.0.1:0")
    args = gunicorn_command("tests.failing_asgi:application")
    with running(args, ready=None, env=env) as server:
        wait_for_halt(server)
    log = server.log
    assert "raised RuntimeError: UPSTREAM_TOKEN is not set" in log
    assert_no_leaks(log)
