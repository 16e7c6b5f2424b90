"""Refusing at once the calls that could not get a pooled connection in time."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.test import override_settings

import sessionhub
from sessionhub import metrics, shedding
from sessionhub.shedding import PoolOverloadedError, Queue, check
from tests.upstream import Upstream


def queue(active: int, waiting: int, hold: float, acquired: float) -> Queue:
    """A queue with ``active`` connections in use since ``acquired``, the last held ``hold`` s."""
    q = Queue()
    for _ in range(active):
        q.acquire(acquired)
    q.waiting = waiting
    q.hold = hold
    return q


def test_a_queue_smooths_hold_times_and_knows_how_long_its_connections_are_held() -> None:
    q = Queue()
    assert q.idle() and q.held_for(100.0) == 0.0
    q.acquire(10.0)
    q.acquire(12.0)
    assert not q.idle()
    assert q.held_for(14.0) == 3.0  # held 4 s and 2 s
    q.release(15.0, 10.0)
    assert q.hold == 5.0  # the first one sets it
    q.release(16.0, 12.0)
    assert q.hold == 5.0 + shedding.HOLD_WEIGHT * (4.0 - 5.0)
    assert q.active == 0 and q.since == 0.0 and q.idle()


def test_without_anything_known_a_call_may_wait() -> None:
    # A cold pool: what it will take cannot be told yet, so the call may queue.
    check("default", "http://up:80", queue(50, 149, 0.0, 100.0), 50, 10.0, 100.0)


def test_a_wait_that_fits_half_the_timeout_and_the_call_after_it_is_allowed() -> None:
    # 150 ahead on 50 connections held 1 s each: about 3 s of wait, then 1 s of call.
    check("default", "http://up:80", queue(50, 149, 1.0, 100.0), 50, 10.0, 100.5)


@pytest.mark.parametrize(
    ("waiting", "hold", "retry_after"),
    [
        (300, 1.0, 1),  # about 6 s of wait: over half the TIMEOUT
        (0, 9.9, 10),  # a short wait, but the call after it ends past the TIMEOUT
    ],
)
def test_a_call_that_would_wait_too_long_is_refused(
    waiting: int, hold: float, retry_after: int
) -> None:
    with pytest.raises(PoolOverloadedError) as refused:
        check("default", "http://up:80", queue(50, waiting, hold, 100.0), 50, 10.0, 100.0)
    message = str(refused.value)
    assert "'default'" in message and "http://up:80" in message
    assert f"{waiting} calls already wait for its 50 connections" in message
    assert "TIMEOUT (10 s)" in message and "LIMIT_PER_HOST" in message
    assert refused.value.retry_after == retry_after


def test_connections_held_longer_than_ever_seen_count_before_any_call_ends() -> None:
    # An upstream that stopped answering: no call has ended, but the ones in
    # flight have been held 8 s so far.
    hung = queue(50, 100, 0.5, 100.0)
    with pytest.raises(PoolOverloadedError) as refused:
        check("default", "http://up:80", hung, 50, 10.0, 108.0)
    assert refused.value.retry_after == 8


@pytest.mark.parametrize(("timeout", "capacity"), [(None, 50), (10.0, 0)])
def test_no_timeout_or_no_limit_never_refuses(timeout: float | None, capacity: int) -> None:
    check("default", "http://up:80", queue(50, 10_000, 60.0, 0.0), capacity, timeout, 100.0)


async def test_a_call_queued_behind_a_connection_held_past_its_budget_is_refused_at_once(
    upstream: Upstream,
) -> None:
    with override_settings(SESSIONHUB={"default": {"LIMIT_PER_HOST": 1, "TIMEOUT": 0.5}}):
        session = sessionhub.get()
    pool = metrics.pool_of(session)
    assert pool is not None

    async def call(path: str) -> int:
        async with session.get(upstream.url_for(path)) as response:
            status: int = response.status
            return status

    holder = asyncio.create_task(call("/gate"))
    async with asyncio.timeout(10):
        while upstream.waiting < 1:
            await asyncio.sleep(0.01)
        # Held half the TIMEOUT: a call queued behind it could not make it.
        while pool.all.held_for(time.monotonic()) <= 0.25:
            await asyncio.sleep(0.01)
    with pytest.raises(PoolOverloadedError):
        await call("/json")
    refused_while_held = not holder.done()
    with pytest.raises(TimeoutError):
        await holder  # its upstream never answers
    upstream.release()
    assert refused_while_held
    assert (pool.shed, pool.requests, pool.failed) == (1, 2, 1)
    assert sessionhub.stats()["default"]["requests"] == {"sent": 2, "failed": 1, "shed": 1}


async def test_refusing_leaves_no_waiter_behind(upstream: Upstream) -> None:
    # After a refusal the pool serves the next call as if nothing had happened.
    with override_settings(SESSIONHUB={"default": {"LIMIT_PER_HOST": 1, "TIMEOUT": 5}}):
        session = sessionhub.get()
    pool = metrics.pool_of(session)
    assert pool is not None

    async def call(path: str) -> int:
        async with session.get(upstream.url_for(path)) as response:
            await response.read()
            status: int = response.status
            return status

    first = asyncio.create_task(call("/gate"))
    async with asyncio.timeout(10):
        while upstream.waiting < 1:
            await asyncio.sleep(0.01)
    pool.all.hold = pool.origins[("http", "127.0.0.1", upstream.port)].hold = 100.0
    with pytest.raises(PoolOverloadedError):
        await call("/json")
    assert pool.all.waiting == 0
    upstream.release()
    assert await first == 200
    assert await call("/json") == 200
    assert (pool.shed, pool.created, pool.reused) == (1, 1, 1)
