"""sessionhub's handler composed with other ASGI applications, under real uvicorn."""

from __future__ import annotations

import json
import re
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from sessionhub.checks import check_asgi_application
from tests.docs import python_block
from tests.servers import BIN, ROOT, assert_clean, running, server_env
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


def test_the_documented_fastapi_host_that_mounts_django(
    upstream: Upstream, tmp_path: Path
) -> None:
    # The documentation's example as written, in a module of its own.
    (tmp_path / "readme_host.py").write_text(python_block("FastAPI(lifespan="), encoding="utf-8")
    args = [
        str(BIN / "uvicorn"),
        "readme_host:application",
        "--app-dir",
        str(tmp_path),
        "--port",
        "0",
    ]
    env = server_env(**ENV, PYTHONPATH=str(ROOT), E2E_QUOTES_URL=upstream.url_for("/echo/"))
    with running(args, ready=UVICORN_READY, env=env) as server:
        quote = get_json(f"{server.base_url}/api/quote")
        django = [get_json(f"{server.base_url}/django/fetch/default/?url={upstream.url}")]
        django.append(get_json(f"{server.base_url}/django/fetch/default/?url={upstream.url}"))
        state = get_json(f"{server.base_url}/django/state/")
        assert server.terminate() == -signal.SIGTERM
    log = server.log
    assert "lifespan started" in log
    # The host's route used the "quotes" client, the mounted views "default".
    assert quote["path"] == "/echo/random"
    assert [body["n"] for body in django] == [2, 3]
    assert len(upstream.peers) == 2  # one pooled connection per client
    # What a lifespan_started receiver put into the state reached the Django view.
    assert state["greeting"].startswith("hello from ")
    # SIGTERM: the host's lifespan shutdown ran sessionhub's, which closed both.
    assert re.search(r"lifespan finished: closed 2 client\(s\)", log)
    assert "closed client 'quotes'" in log
    assert_clean(log)


@pytest.mark.parametrize("with_lifespan", [True, False])
def test_check_deploy_passes_the_documented_host_and_warns_without_its_lifespan(
    with_lifespan: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = python_block("FastAPI(lifespan=")
    if not with_lifespan:
        text = text.replace("FastAPI(lifespan=lifespan)", "FastAPI()")
    name = f"readme_host_{with_lifespan}".lower()
    (tmp_path / f"{name}.py").write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with override_settings(ASGI_APPLICATION=f"{name}.application"):
            found = [message.id for message in check_asgi_application(None)]
    finally:
        sys.modules.pop(name, None)
    assert found == ([] if with_lifespan else ["sessionhub.W007"])
