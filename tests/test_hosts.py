"""sessionhub's handler composed with other ASGI applications, under real uvicorn."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from typing import Any

import pytest

from tests.servers import BIN, assert_clean, running, server_env
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

UVICORN_READY = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"
ENV = {"DJANGO_SETTINGS_MODULE": "tests.compose_settings"}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_sentry_and_opentelemetry_middleware_pass_the_lifespan_through(
    upstream: Upstream,
) -> None:
    args = [str(BIN / "uvicorn"), "tests.middleware_asgi:application", "--port", "0"]
    with running(args, ready=UVICORN_READY, env=server_env(**ENV)) as server:
        fetched = [get_json(f"{server.base_url}/fetch/default/?url={upstream.url}")]
        fetched.append(get_json(f"{server.base_url}/fetch/default/?url={upstream.url}"))
        state = get_json(f"{server.base_url}/state/")
        assert server.terminate() == -signal.SIGTERM
    log = server.log
    assert "ASGI 'lifespan' protocol appears unsupported" not in log
    assert "lifespan started" in log
    assert [body["n"] for body in fetched] == [1, 2]
    assert len(upstream.peers) == 1  # one pooled client across requests
    assert state["greeting"].startswith("hello from ")
    assert re.search(r"lifespan finished: closed 1 client\(s\)", log)
    assert_clean(log)


def test_a_fastapi_host_that_mounts_django(upstream: Upstream) -> None:
    args = [str(BIN / "uvicorn"), "tests.fastapi_asgi:app", "--port", "0"]
    with running(args, ready=UVICORN_READY, env=server_env(**ENV)) as server:
        api = get_json(f"{server.base_url}/api/fetch?url={upstream.url}")
        django = get_json(f"{server.base_url}/django/fetch/default/?url={upstream.url}")
        state = get_json(f"{server.base_url}/django/state/")
        assert server.terminate() == -signal.SIGTERM
    log = server.log
    assert "lifespan started" in log
    # FastAPI's route and the mounted Django view share the worker's client.
    assert api["upstream"]["n"] == 1
    assert django["n"] == 2
    assert len(upstream.peers) == 1
    # What a lifespan_started receiver put into the state reached the Django view.
    assert state["greeting"].startswith("hello from ")
    # SIGTERM: the host's lifespan shutdown ran sessionhub's, which closed the client.
    assert re.search(r"lifespan finished: closed 1 client\(s\)", log)
    assert "closed client 'default'" in log
    assert_clean(log)
