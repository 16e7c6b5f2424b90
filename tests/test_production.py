"""Production operations under real gunicorn with sessionhub's uvicorn workers.

Run this group alone with ``pytest -m production``.
"""

from __future__ import annotations

import asyncio
import collections
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest

from tests.faults import FaultyUpstream, running_faulty_upstream
from tests.servers import (
    GUNICORN_READY,
    Server,
    assert_clean,
    count_by_pid,
    fetch,
    gunicorn_command,
    open_fds,
    process_tree,
    running,
    server_env,
    stop,
    tcp_connections,
    wait_until,
)
from tests.upstream import Upstream

pytestmark = [pytest.mark.e2e, pytest.mark.production]


def gunicorn_env(**extra: str) -> dict[str, str]:
    return server_env(
        DJANGO_SETTINGS_MODULE="tests.e2e_settings",
        GUNICORN_BIND="127.0.0.1:0",
        SESSIONHUB_LOG_LEVEL="INFO",
        **extra,
    )


@contextmanager
def gunicorn(workers: int, **env: str) -> Iterator[Server]:
    with running(gunicorn_command(), ready=GUNICORN_READY, env=gunicorn_env(**env)) as server:
        server.wait_for(rf"(?s)(Application startup complete.*){{{workers}}}")
        yield server


async def hammer(url: str, requests: int, timeout: float) -> collections.Counter[object]:
    """Send ``requests`` concurrent GETs; count the responses by status (or error type)."""
    statuses: collections.Counter[object] = collections.Counter()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def one() -> None:
            try:
                async with client.get(url) as response:
                    body = await response.json()
                    ok = response.status == 200 and body["upstream"] == {"ok": True, "gated": True}
                    statuses[response.status if ok else f"{response.status} {body}"] += 1
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1

        async with asyncio.timeout(timeout):
            await asyncio.gather(*(one() for _ in range(requests)))
    return statuses


def test_sigterm_under_load_finishes_every_request_and_closes_every_session(
    upstream: Upstream, record_property: Any
) -> None:
    graceful = 15
    env = {
        # The upstream holds every request until released, then answers 200 ms later.
        "DEMO_UPSTREAM_URL": upstream.url_for("/gate?after=0.2"),
        "E2E_POOL_LIMIT": "0",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_GRACEFUL_TIMEOUT": str(graceful),
    }
    with gunicorn(2, **env) as server, ThreadPoolExecutor(2) as pool:
        load = pool.submit(asyncio.run, hammer(server.base_url, 200, 60))
        try:
            wait_until(lambda: upstream.waiting == 200, 30, "200 requests in flight")
            stopping = pool.submit(stop, server)
            wait_until(
                lambda: len(count_by_pid(server.log, "shutdown begun")) == 2, 10, "shutdown"
            )
            # Both workers are shutting down, with every request still in flight.
            assert upstream.waiting == 200
        finally:
            upstream.release()
        statuses = load.result(70)
        code, seconds = stopping.result(graceful + 10)
    record_property("shutdown_seconds", round(seconds, 2))
    assert statuses == {200: 200}, statuses
    assert code == 0
    assert seconds < graceful, f"gunicorn took {seconds:.1f} s, graceful_timeout is {graceful}"
    log = server.log
    pids = count_by_pid(log, "lifespan started").keys()
    assert len(pids) == 2
    # One client per worker, created at startup and never again after shutdown.
    assert count_by_pid(log, "created client 'default'") == dict.fromkeys(pids, 1)
    assert count_by_pid(log, "closed client 'default'") == dict.fromkeys(pids, 1)
    assert count_by_pid(log, r"lifespan finished: closed 1 client") == dict.fromkeys(pids, 1)
    assert_clean(log)


@pytest.fixture
def silent_upstream() -> Iterator[int]:
    """A port that completes TCP handshakes but never reads: uploads to it never finish."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # never accepted: the kernel's backlog holds the connection
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_the_close_bound_aborts_a_connection_that_never_finishes(
    silent_upstream: int, record_property: Any
) -> None:
    graceful = 30
    env = {
        "WEB_CONCURRENCY": "1",
        "SESSIONHUB_CLOSE_TIMEOUT": "1",
        "GUNICORN_GRACEFUL_TIMEOUT": str(graceful),
    }
    with gunicorn(1, **env) as server:
        upload = f"{server.base_url}/upload/?url=http://127.0.0.1:{silent_upstream}/&bytes={2**26}"
        assert fetch(upload)[0] == 202
        # The upload has filled the socket buffers and stays stuck.
        wait_until(
            lambda: any(queued for _, queued in tcp_connections(silent_upstream)),
            10,
            "an upload stuck on the silent upstream",
        )
        code, seconds = stop(server)
    log = server.log
    record_property("shutdown_seconds", round(seconds, 2))
    assert code == 0
    # Stopped by the 1 s bound (the log line below), not by graceful_timeout.
    assert seconds < graceful / 2, f"gunicorn took {seconds:.1f} s"
    assert re.search(
        r"closing client\(s\) 'default' took longer than SESSIONHUB_CLOSE_TIMEOUT; "
        r"aborting their 1 connection\(s\)",
        log,
    ), log
    assert "closed client 'default'" in log
    assert tcp_connections(silent_upstream) == []
    assert_clean(log)


def set_mode(upstream: FaultyUpstream, mode: str) -> None:
    upstream.mode = mode
    wait_until(lambda: upstream.listening == (mode != "refuse"), 5, f"upstream in mode {mode}")


@pytest.mark.parametrize(
    ("fault", "status", "errors"),
    [
        ("refuse", 502, ("ClientConnectorError",)),
        ("hang", 504, ("timed out",)),
        ("reset", 502, ("ClientPayloadError", "ServerDisconnectedError")),
        ("garbage", 502, ("ClientResponseError", "ServerDisconnectedError")),
    ],
)
def test_after_an_upstream_fault_the_same_worker_and_session_serve_again(
    fault: str, status: int, errors: tuple[str, ...]
) -> None:
    with running_faulty_upstream() as upstream:
        env = {
            "WEB_CONCURRENCY": "1",
            "DEMO_UPSTREAM_URL": upstream.url,
            "DEMO_UPSTREAM_TIMEOUT": "1",
        }
        with gunicorn(1, **env) as server:
            healthy = fetch(server.base_url)
            set_mode(upstream, fault)
            failed = fetch(server.base_url)
            set_mode(upstream, "ok")
            recovered = fetch(server.base_url)
            code, _ = stop(server)
    assert healthy[0] == 200 and healthy[1]["upstream"] == {"ok": True}
    assert failed[0] == status, failed
    # The answer says nothing of the error; the log has it under the request id.
    assert set(failed[1]) == {"error", "request_id"}, failed
    entry = re.search(rf"request {failed[1]['request_id']}: .*?(?=\n\[|\Z)", server.log, re.S)
    assert entry is not None, server.log
    assert any(error in entry.group(0) for error in errors), entry.group(0)
    # The pool is not poisoned: the same worker and session succeed again.
    assert recovered[0] == 200 and recovered[1]["upstream"] == {"ok": True}
    assert (recovered[1]["pid"], recovered[1]["session"]) == (
        healthy[1]["pid"],
        healthy[1]["session"],
    )
    assert upstream.seen[fault] >= 1 or fault == "refuse"
    assert code == 0
    assert_clean(server.log.replace(entry.group(0), ""))


def test_the_health_view_turns_503_when_shutdown_begins(upstream: Upstream) -> None:
    drain, graceful = 2, 30
    env = {
        "WEB_CONCURRENCY": "1",
        "DEMO_UPSTREAM_URL": upstream.url,
        "SESSIONHUB_DRAIN_SECONDS": str(drain),
        "GUNICORN_GRACEFUL_TIMEOUT": str(graceful),
    }
    with gunicorn(1, **env) as server, ThreadPoolExecutor(1) as pool:
        health = f"{server.base_url}/health/"
        before = fetch(health)
        stopping = pool.submit(stop, server)
        wait_until(lambda: "shutdown begun" in server.log, 5, "shutdown")
        during = fetch(health)
        # Draining: the health view says stop, the rest of the site still serves.
        demo = fetch(server.base_url)
        code, seconds = stopping.result(30)
    assert before[0] == 200, before
    assert before[1]["status"] == "ok"
    default = before[1]["clients"]["default"]
    assert (default["limit"], default["limit_per_host"], default["closed"]) == (100, 50, False)
    assert during[0] == 503 and during[1]["status"] == "stopping"
    assert during[1]["pid"] == before[1]["pid"]
    assert demo[0] == 200
    assert code == 0
    # Served for the whole drain, then stopped without waiting out graceful_timeout.
    assert drain <= seconds < graceful / 2, seconds
    assert_clean(server.log)


def test_recycled_workers_keep_descriptors_and_connections_flat(
    upstream: Upstream, record_property: Any
) -> None:
    workers, concurrency = 6, 4
    env = {
        "WEB_CONCURRENCY": "2",
        "DEMO_UPSTREAM_URL": upstream.url,
        "GUNICORN_MAX_REQUESTS": "200",
        "GUNICORN_MAX_REQUESTS_JITTER": "50",
    }
    samples: list[tuple[int, int]] = []
    enough = threading.Event()
    with gunicorn(2, **env) as server, ThreadPoolExecutor(1) as pool:
        # Load until `workers` workers have started in turn (4 recycled), however
        # fast this machine serves them; bounded at 90 s and 20,000 requests.
        load = pool.submit(asyncio.run, steady_load(server.base_url, concurrency, 90, enough))
        while not load.done():
            pids = process_tree(server.process.pid)
            established = [s for s, _ in tcp_connections(upstream.port) if s == "01"]
            samples.append((open_fds(pids), len(established)))
            if len(count_by_pid(server.log, "created client 'default'")) >= workers:
                enough.set()
            time.sleep(0.25)  # the sampling period
        statuses = load.result()
        code, _ = stop(server)
    log = server.log
    assert code == 0
    created = count_by_pid(log, "created client 'default'")
    assert len(created) >= workers, f"only {len(created)} workers: {statuses}"
    # Every worker, retired or stopped, closed the one client it created.
    assert count_by_pid(log, "closed client 'default'") == created
    assert set(created.values()) == {1}
    # A retiring worker can reset a connection it accepted but had not read yet
    # (the client sees it disconnect): at most one per request in flight at
    # each retirement. Nothing else may fail.
    failed = statuses.total() - statuses[200]
    disconnects = {"ServerDisconnectedError", "ClientOSError", "ClientConnectionError"}
    assert set(statuses) <= {200, *disconnects}, statuses
    assert failed <= concurrency * (len(created) - 2), statuses
    fds, connections = zip(*samples, strict=True)
    third = len(samples) // 3
    early, late = sorted(fds[:third]), sorted(fds[-third:])
    for name, value in [
        ("requests", statuses.total()),
        ("requests_failed", failed),
        ("workers", len(created)),
        ("fds_early_median", early[len(early) // 2]),
        ("fds_late_median", late[len(late) // 2]),
        ("fds_max", max(fds)),
        ("upstream_connections_max", max(connections)),
        ("upstream_connections_total", len(upstream.peers)),
    ]:
        record_property(name, value)
    assert late[len(late) // 2] <= early[len(early) // 2] + 8, (early, late)
    assert max(fds) <= 2 * early[len(early) // 2], fds
    # Two workers, and a retiring one, each with at most `concurrency` connections.
    assert max(connections) <= 3 * concurrency, connections
    # None left open once gunicorn has stopped (TIME_WAIT, "06", is closed).
    assert [s for s, _ in tcp_connections(upstream.port) if s == "01"] == []
    assert_clean(log)


async def steady_load(
    url: str, concurrency: int, duration: float, enough: threading.Event
) -> collections.Counter[object]:
    """GET ``url`` from ``concurrency`` loops until ``enough`` is set.

    Bounded at ``duration`` s and 20,000 requests.
    """
    statuses: collections.Counter[object] = collections.Counter()
    deadline = time.monotonic() + duration
    # A new connection per request, so each goes to a worker that is accepting.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def user() -> None:
            while (
                not enough.is_set() and time.monotonic() < deadline and statuses.total() < 20_000
            ):
                try:
                    async with client.get(url) as response:
                        await response.read()
                        statuses[response.status] += 1
                except aiohttp.ClientError as exc:
                    statuses[type(exc).__name__] += 1

        await asyncio.gather(*(user() for _ in range(concurrency)))
    return statuses
