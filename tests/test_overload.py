"""Overload under real gunicorn: past GUNICORN_WORKER_CONNECTIONS a worker answers 503 at once."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from tests.servers import BIN, Server, running, server_env
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

GUNICORN_READY = r"Listening at: http://127\.0\.0\.1:(\d+)"
# A small bound, so that a handful of requests fills the worker.
LIMIT = 4
# uvicorn counts the connection asking too: LIMIT - 1 requests are served at once.
SERVED = LIMIT - 1
EXTRA = 8


@contextmanager
def gunicorn(upstream: Upstream, worker_connections: int) -> Iterator[Server]:
    env = server_env(
        GUNICORN_BIND="127.0.0.1:0",
        WEB_CONCURRENCY="1",
        GUNICORN_WORKER_CONNECTIONS=str(worker_connections),
        # Held until the test releases it: far longer than the test waits for a 503.
        DEMO_UPSTREAM_URL=upstream.url_for("/gate"),
        DEMO_UPSTREAM_TIMEOUT="60",
        SESSIONHUB_LOG_LEVEL="INFO",
    )
    command = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
    with running(command, ready=GUNICORN_READY, env=env) as server:
        server.wait_for("Application startup complete")
        yield server


def status(url: str, timeout: float) -> int:
    """GET ``url`` on a new connection; its status (raises on a timeout)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def test_a_full_worker_sheds_requests_and_health_checks_with_503_at_once(
    upstream: Upstream,
) -> None:
    with gunicorn(upstream, LIMIT) as server, ThreadPoolExecutor(SERVED + EXTRA) as pool:
        held = [pool.submit(status, server.base_url, 60) for _ in range(SERVED)]
        wait_until(lambda: upstream.waiting == SERVED, 20, "requests held by the upstream")
        # Full: each further request is answered while the held ones still wait,
        # well within the 60 s their upstream call may take.
        shed = list(pool.map(lambda _: status(server.base_url, 10), range(EXTRA)))
        health = status(f"{server.base_url}/health/", 10)
        waiting = upstream.waiting
        upstream.release()
        served = [future.result(30) for future in held]
        # Room again once they are answered.
        wait_until(lambda: status(f"{server.base_url}/health/", 10) == 200, 10, "health 200")
    assert shed == [503] * EXTRA
    assert health == 503
    assert waiting == SERVED and upstream.requests == SERVED
    assert served == [200] * SERVED


def test_without_the_bound_the_same_requests_queue(upstream: Upstream) -> None:
    with gunicorn(upstream, 0) as server, ThreadPoolExecutor(SERVED + EXTRA) as pool:
        held = [pool.submit(status, server.base_url, 60) for _ in range(SERVED + EXTRA)]
        wait_until(lambda: upstream.waiting == SERVED + EXTRA, 20, "every request held")
        upstream.release()
        served = [future.result(30) for future in held]
    assert served == [200] * (SERVED + EXTRA)
