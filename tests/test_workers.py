"""sessionhub's gunicorn worker, run in-process on a real socket with real uvicorn.

The same worker runs under real gunicorn in test_production.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from django.test import override_settings
from gunicorn.config import Config
from gunicorn.glogging import Logger

from sessionhub import hub
from sessionhub.asgi import LifespanASGIHandler
from sessionhub.workers import UvicornWorker


@pytest.fixture
def worker_factory() -> Iterator[Any]:
    """Build workers the way gunicorn's arbiter does, on a listening socket of our own."""
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    saved = [(logger.handlers, logger.level, logger.propagate) for logger in uvicorn_loggers]
    sockets: list[socket.socket] = []
    workers: list[UvicornWorker] = []

    def make(graceful_timeout: int) -> UvicornWorker:
        cfg = Config()
        cfg.set("graceful_timeout", graceful_timeout)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sockets.append(listener)
        worker = UvicornWorker(0, os.getpid(), [listener], None, 30, cfg, Logger(cfg))
        worker.wsgi = LifespanASGIHandler()  # what gunicorn's load_wsgi() sets
        workers.append(worker)
        return worker

    try:
        yield make
    finally:
        for listener in sockets:
            listener.close()
        for worker in workers:
            worker.tmp.close()  # gunicorn's heartbeat file
        for logger, (handlers, level, propagate) in zip(uvicorn_loggers, saved, strict=True):
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate


async def health(port: int) -> int:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/health/") as response,
    ):
        return response.status


async def started(worker: UvicornWorker) -> int:
    async with asyncio.timeout(10):
        while not getattr(getattr(worker, "server", None), "started", False):
            await asyncio.sleep(0.01)
    port: int = worker.sockets[0].getsockname()[1]
    return port


@override_settings(SESSIONHUB_DRAIN_SECONDS=0.6, SESSIONHUB_CLOSE_TIMEOUT=3)
async def test_the_worker_drains_then_stops_within_graceful_timeout(worker_factory: Any) -> None:
    worker = worker_factory(20)
    serving = asyncio.create_task(worker._serve())
    try:
        port = await started(worker)
        assert await health(port) == 200
        # What gunicorn's graceful_timeout leaves for requests in flight.
        assert worker.config.timeout_graceful_shutdown == int(20 - 0.6 - 3 - 1)
        worker.server.should_exit = True  # what SIGTERM does
        begun = time.monotonic()
        async with asyncio.timeout(5):
            while await health(port) == 200:
                await asyncio.sleep(0.02)
        # Draining: still accepting, and answering 503 on the health view.
        assert await health(port) == 503
        async with asyncio.timeout(10):
            await serving
        assert 0.6 <= time.monotonic() - begun < 3
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGQUIT)
        serving.cancel()
    assert not hub._serving()


@override_settings(SESSIONHUB_DRAIN_SECONDS=0, SESSIONHUB_CLOSE_TIMEOUT=5)
async def test_a_graceful_timeout_too_short_for_the_settings_is_reported(
    worker_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    worker = worker_factory(5)
    with caplog.at_level(logging.WARNING, logger="sessionhub"):
        serving = asyncio.create_task(worker._serve())
        try:
            await started(worker)
            worker.server.force_exit = worker.server.should_exit = True
            async with asyncio.timeout(10):
                await serving
        finally:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGQUIT)
            serving.cancel()
    assert worker.config.timeout_graceful_shutdown == 1
    assert "graceful_timeout (5.0 s) leaves -1.0 s for requests in flight" in caplog.text
