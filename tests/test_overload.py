"""Overload under real gunicorn with the shipped configuration (deploy/gunicorn.conf.py).

The worker bounds requests, not connections: idle sockets never cost a 503; a
slow but healthy upstream at several times the pool's size is waited for; a
hung one has its excess calls refused at once with 503 and Retry-After while
the health view stays up; and the pool's waits show in the health details.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from tests.servers import (
    GUNICORN_READY,
    Server,
    assert_no_leaks,
    fetch,
    gunicorn_command,
    running,
    server_env,
)
from tests.servers import wait_until as poll
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e


@contextmanager
def gunicorn(pool: int | None = None, **env: str) -> Iterator[Server]:
    """One worker of the shipped configuration serving the project (with the test views)."""
    extra = {"E2E_POOL_LIMIT": str(pool)} if pool is not None else {}
    settings = server_env(
        GUNICORN_BIND="127.0.0.1:0",
        WEB_CONCURRENCY="1",
        DJANGO_SETTINGS_MODULE="tests.e2e_settings",
        SESSIONHUB_LOG_LEVEL="INFO",
        **extra,
        **env,
    )
    with running(gunicorn_command(), ready=GUNICORN_READY, env=settings) as server:
        server.wait_for("Application startup complete")
        yield server
        # Stopped at once, requests still in flight or not: a clean exit, nothing leaked
        # (the demo logs each upstream failure with its traceback, under its request id).
        assert server.terminate() == 0, server.log
    assert_no_leaks(server.log)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """GET ``url`` on a new connection: its status and headers (names in lower case)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def clients(server: Server) -> dict[str, Any]:
    """The health view's details: ``stats()`` of the worker that answered."""
    status, body = fetch(f"{server.base_url}/health/")
    assert status == 200, body
    found: dict[str, Any] = body["clients"]
    return found


def test_idle_sockets_cost_no_503(upstream: Upstream) -> None:
    # 150 sockets that never send a byte: past the 100 connections that used to
    # fill a worker and answer everything 503. (Closing them is the proxy's job.)
    with (
        gunicorn(DEMO_UPSTREAM_URL=upstream.url) as server,
        ExitStack() as stack,
    ):
        for _ in range(150):
            stack.enter_context(socket.create_connection(("127.0.0.1", server.port), 10))
        answers = [get(server.base_url)[0] for _ in range(5)]
        health = get(f"{server.base_url}/health/")[0]
    assert answers == [200] * 5
    assert health == 200


def test_a_healthy_slow_upstream_at_four_times_the_pool_is_waited_for(upstream: Upstream) -> None:
    pool, calls = 4, 16
    url = upstream.url_for("/slow?seconds=0.5")
    with gunicorn(pool, DEMO_UPSTREAM_URL=url) as server, ThreadPoolExecutor(calls) as threads:
        statuses = list(threads.map(lambda _: get(server.base_url)[0], range(calls)))
        default = clients(server)["default"]
    assert statuses == [200] * calls
    assert default["requests"] == {"sent": calls, "failed": 0, "shed": 0}
    # Most calls waited for one of the 4 connections: that is what the pool is for.
    assert default["pool_wait"]["count"] >= calls - pool
    assert default["connections"]["created"] == pool


def test_a_hung_upstream_is_shed_with_503_and_retry_after_while_health_stays_up(
    upstream: Upstream,
) -> None:
    pool, timeout = 2, 2
    env = {"DEMO_UPSTREAM_URL": upstream.url_for("/gate"), "DEMO_UPSTREAM_TIMEOUT": str(timeout)}
    with gunicorn(pool, **env) as server, ThreadPoolExecutor(2 * pool + 8) as threads:
        # The first calls take the connections and are held for their whole TIMEOUT.
        first = [threads.submit(get, server.base_url) for _ in range(pool)]
        poll(lambda: upstream.waiting == pool, 20, "the first calls held")
        timed_out = [future.result(30)[0] for future in first]
        # The next ones take the connections again; what comes after them
        # could not get one in time, and is refused at once.
        held = [threads.submit(get, server.base_url) for _ in range(pool)]
        poll(lambda: clients(server)["default"]["in_use"] == pool, 20, "the next calls held")
        refused = list(threads.map(lambda _: get(server.base_url), range(8)))
        health_meanwhile = get(f"{server.base_url}/health/")[0]
        still_held = not any(future.done() for future in held)
        # A request that waited too long before the worker could start it is
        # refused before it reaches Django (the proxy says when it got it).
        stale = get(server.base_url, {"X-Request-Start": f"t={time.time() - 60:.3f}"})
        upstream.release()
        answered = [future.result(30)[0] for future in held]
        default = clients(server)["default"]
    assert timed_out == [504] * pool
    assert [status for status, _ in refused] == [503] * 8
    assert {headers["retry-after"] for _, headers in refused} == {str(timeout)}
    assert still_held, "the refusals came while the calls ahead of them were still held"
    assert health_meanwhile == 200
    assert (stale[0], stale[1]["retry-after"]) == (503, "1")
    assert answered == [200] * pool or answered == [504] * pool
    assert default["requests"]["shed"] == 8


def test_the_health_details_show_the_wait_of_a_second_call_on_a_pool_of_one(
    upstream: Upstream,
) -> None:
    with gunicorn(1, DEMO_UPSTREAM_URL=upstream.url_for("/gate")) as server:
        with ThreadPoolExecutor(2) as threads:
            first = threads.submit(get, server.base_url)
            poll(lambda: upstream.waiting == 1, 20, "the first call held")
            second = threads.submit(get, server.base_url)
            poll(lambda: clients(server)["default"]["waiting"] == 1, 20, "the second call queued")
            upstream.release()
            statuses = [first.result(30)[0], second.result(30)[0]]
        default = clients(server)["default"]
    assert statuses == [200, 200]
    assert default["pool_wait"]["count"] == 1 and default["pool_wait"]["max_s"] > 0
    assert default["connections"] == {"created": 1, "reused": 1, "closed": 0}
