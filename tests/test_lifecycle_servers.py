"""Hung lifespan receivers under real uvicorn and real gunicorn with sessionhub's worker."""

from __future__ import annotations

import re
import time
import urllib.request
from typing import Any

import pytest

from tests.servers import BIN, running, server_env, wait_for_halt

pytestmark = pytest.mark.e2e

GUNICORN_READY = r"Listening at: http://127\.0\.0\.1:(\d+)"
HUNG = "tests.hung_asgi.wait_for_ever"


def env(hung: str, **extra: str) -> dict[str, str]:
    return server_env(DJANGO_SETTINGS_MODULE="tests.e2e_settings", HUNG=hung, **extra)


def gunicorn(workers: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "-c",
        "deploy/gunicorn.conf.py",
        "--workers",
        str(workers),
        "--bind",
        "127.0.0.1:0",
        "tests.hung_asgi:application",
    ]


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
        assert re.search(rf"\[{pid}\] .*lifespan_finished receiver {HUNG} was still running", log)
        assert re.search(rf"\[{pid}\] .*closed client 'default'", log)
    assert_no_leaks(log)


def test_a_hung_startup_receiver_makes_uvicorn_exit_3_naming_it() -> None:
    args = [str(BIN / "uvicorn"), "tests.hung_asgi:application", "--port", "0"]
    with running(args, ready=None, env=env("started", SESSIONHUB_STARTUP_TIMEOUT="1")) as server:
        code = server.process.wait(30)
    assert code == 3, server.log
    assert f"lifespan_started receiver {HUNG} was still running after " in server.log
    assert "SESSIONHUB_STARTUP_TIMEOUT (1 s)" in server.log
    assert_no_leaks(server.log)


def test_a_hung_startup_receiver_makes_gunicorn_halt() -> None:
    with running(gunicorn(1), ready=None, env=env("started", SESSIONHUB_STARTUP_TIMEOUT="1")) as (
        server
    ):
        wait_for_halt(server)
    assert f"lifespan_started receiver {HUNG} was still running" in server.log
    assert_no_leaks(server.log)


def assert_no_leaks(log: str) -> None:
    """No leaked sessions, connectors or tasks (unlike assert_clean, tracebacks may appear:
    a failed startup's message carries the receiver's)."""
    for leak in ("Unclosed client session", "Unclosed connector", "Task was destroyed"):
        assert leak not in log, log
