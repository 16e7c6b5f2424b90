"""Django Channels with sessionhub under real uvicorn and daphne: HTTP and a websocket."""

from __future__ import annotations

import json
import re
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.docs import python_block
from tests.servers import BIN, ROOT, Server, assert_clean, running, server_env
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

UVICORN_READY = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"
DAPHNE_READY = r"Listening on TCP address 127\.0\.0\.1:(\d+)"
ENV = {"DJANGO_SETTINGS_MODULE": "tests.compose_settings"}


def uvicorn(app: str, *args: str) -> list[str]:
    return [str(BIN / "uvicorn"), f"tests.channels_asgi:{app}", "--port", "0", *args]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def status_of(url: str) -> int:
    """The status of a GET of ``url``, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def over_websocket(server: Server, url: str) -> Any:
    """Send ``url`` to the fetching consumer over a real websocket; its JSON answer."""
    with connect(f"ws://127.0.0.1:{server.port}/ws/fetch/", open_timeout=10) as websocket:
        websocket.send(url)
        return json.loads(websocket.recv(timeout=10))


def test_the_documented_channels_asgi_py_under_uvicorn(upstream: Upstream, tmp_path: Path) -> None:
    # The documented asgi.py as written; its myapp.routing is the tests' consumer.
    (tmp_path / "readme_channels.py").write_text(
        python_block("ProtocolTypeRouter("), encoding="utf-8"
    )
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "myapp" / "routing.py").write_text(
        "from tests.compose_app.routing import websocket_urlpatterns\n", encoding="utf-8"
    )
    args = [str(BIN / "uvicorn"), "readme_channels:application", "--app-dir", str(tmp_path)]
    env = server_env(**ENV, PYTHONPATH=str(ROOT))
    with running([*args, "--port", "0"], ready=UVICORN_READY, env=env) as server:
        http = get_json(f"{server.base_url}/fetch/default/?url={upstream.url}")
        answers = [over_websocket(server, upstream.url) for _ in range(3)]
        state = get_json(f"{server.base_url}/state/")
        assert server.terminate() == -signal.SIGTERM
    log = server.log
    assert "lifespan started" in log
    assert "ASGI 'lifespan' protocol appears unsupported" not in log
    # HTTP and the websocket consumer share the worker's one client.
    assert http == {"ok": True, "n": 1}
    assert [a["upstream"]["n"] for a in answers] == [2, 3, 4]
    assert len({a["session"] for a in answers}) == 1
    assert len(upstream.peers) == 1
    # What the receiver put into the state reaches views and consumers.
    pid = answers[0]["pid"]
    assert state["greeting"] == answers[0]["greeting"] == f"hello from {pid}"
    # SIGTERM: lifespan shutdown closed the client.
    assert re.search(r"lifespan finished: closed 1 client\(s\)", log)
    assert "closed client 'default'" in log
    assert_clean(log)


def test_channels_documented_router_gets_no_lifespan(upstream: Upstream) -> None:
    app = uvicorn("without_lifespan")
    with running(app, ready=UVICORN_READY, env=server_env(**ENV)) as server:
        answer = over_websocket(server, upstream.url)
        state_status = status_of(f"{server.base_url}/state/")
        assert server.terminate() == -signal.SIGTERM
    log = server.log
    assert answer["greeting"] is None
    assert state_status == 500  # the view's NoLifespanStateError
    assert "ASGI 'lifespan' protocol appears unsupported" in log
    assert "lifespan started" not in log
    assert "created client 'default'" in log
    # Not closed on SIGTERM: uvicorn ends the process inside the loop.
    assert "closed client 'default'" not in log


def test_channels_documented_router_fails_with_lifespan_on() -> None:
    app = uvicorn("without_lifespan", "--lifespan", "on")
    with running(app, ready=None, env=server_env(**ENV)) as server:
        assert server.process.wait(30) == 3
    assert "ValueError: No application configured for scope type 'lifespan'" in server.log


def test_daphne_sends_no_lifespan(  # daphne is also what Channels' runserver runs
    upstream: Upstream,
) -> None:
    args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "0", "tests.channels_asgi:application"]
    with running(args, ready=DAPHNE_READY, env=server_env(**ENV)) as server:
        answers = [over_websocket(server, upstream.url) for _ in range(2)]
        http = get_json(f"{server.base_url}/fetch/default/?url={upstream.url}")
        state_status = status_of(f"{server.base_url}/state/")
        assert server.terminate() == 0
    log = server.log
    assert "lifespan started" not in log
    assert [a["greeting"] for a in answers] == [None, None]
    assert http["n"] == 3
    assert state_status == 500
    # One client, opened by the first get() and used by HTTP and websockets alike...
    assert len({a["session"] for a in answers}) == 1
    assert len(upstream.peers) == 1
    assert log.count("created client 'default'") == 1
    # ...and never closed: daphne stops its loop without winding it down.
    assert "closed client" not in log


def test_channels_runserver_is_daphne_without_a_lifespan(upstream: Upstream) -> None:
    args = [sys.executable, "-m", "django", "runserver", "--noreload", "127.0.0.1:0"]
    env = server_env(DJANGO_SETTINGS_MODULE="tests.compose_runserver_settings")
    with running(args, ready=DAPHNE_READY, env=env) as server:
        answer = over_websocket(server, upstream.url)
        http = get_json(f"{server.base_url}/fetch/default/?url={upstream.url}")
        state_status = status_of(f"{server.base_url}/state/")
        assert server.terminate(sig=signal.SIGINT) == 0  # Ctrl+C
    log = server.log
    assert "Starting ASGI/Daphne" in log
    assert "lifespan started" not in log
    assert answer["greeting"] is None
    assert http["n"] == 2
    assert state_status == 500
    assert log.count("created client 'default'") == 1
    assert "closed client" not in log  # not even on Ctrl+C
