"""The reference project's demo view: what it answers, what it logs, what it calls."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.test import AsyncClient, Client, override_settings

from config.views import MAX_BODY_BYTES, embedded_upstream
from tests.bodies import BODIES, running_bodies
from tests.deployfiles import (
    container,
    docker_env,
    docker_healthcheck_url,
    kubernetes_env,
    probe_host,
)
from tests.servers import BIN, Server, running, server_env, wait_for_halt
from tests.upstream import Upstream

TOKEN = "tok-3f9a7c1e55"
PASSWORD = "pw-8d2b6e90"
API_KEY = "key-51c0a9d7"
SECRETS = (TOKEN, PASSWORD, API_KEY)


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# (upstream URL, the client's HEADERS, TIMEOUT, expected status); {port} is the
# test upstream's, {closed} a port nothing listens on.
FAILURES = {
    "error status": ("http://127.0.0.1:{port}/missing?api_key={key}", "X-Api-Token", 5, 502),
    "credentials in the URL": (
        "http://demo:{password}@127.0.0.1:{port}/missing?api_key={key}",
        "X-Api-Token",
        5,
        502,
    ),
    # aiohttp refuses an Authorization header together with URL credentials.
    "authorization and credentials": (
        "http://demo:{password}@127.0.0.1:{port}/json?api_key={key}",
        "Authorization",
        5,
        502,
    ),
    "refused": (
        "http://demo:{password}@127.0.0.1:{closed}/?api_key={key}",
        "Authorization",
        5,
        502,
    ),
    "invalid URL": ("http://demo:{password}@[bad/?api_key={key}", "Authorization", 5, 502),
    "timeout": (
        "http://demo:{password}@127.0.0.1:{port}/gate?api_key={key}",
        "X-Api-Token",
        0.3,
        504,
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_an_upstream_failure_answers_a_status_and_a_request_id_only(
    case: str, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    template, header, timeout, status = FAILURES[case]
    url = template.format(port=upstream.port, closed=closed_port(), password=PASSWORD, key=API_KEY)
    value = f"Bearer {TOKEN}" if header == "Authorization" else TOKEN
    client = {"HEADERS": {header: value}, "TIMEOUT": timeout}
    with (
        override_settings(DEMO_UPSTREAM_URL=url, SESSIONHUB={"default": client}),
        caplog.at_level(logging.INFO, logger="config"),
    ):
        response = await AsyncClient().get("/")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "request_id"}
    request_id = body["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response["X-Request-ID"] == request_id
    text = response.content.decode()
    for leak in (*SECRETS, "127.0.0.1", "demo:", "Bearer", "api_key", "Error"):
        assert leak not in text, (case, leak, text)
    # The details are in the log, under the same id, with the traceback.
    (record,) = [r for r in caplog.records if request_id in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "Traceback (most recent call last)" in record.getMessage()
    for secret in SECRETS:
        assert secret not in caplog.text, (case, secret, caplog.text)


async def test_the_log_names_the_upstream_without_its_secrets(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://demo:{PASSWORD}@127.0.0.1:{upstream.port}/missing?api_key={API_KEY}"
    with override_settings(DEMO_UPSTREAM_URL=url), caplog.at_level(logging.INFO, logger="config"):
        response = await AsyncClient().get("/")
    assert response.status_code == 502
    (message,) = [r.getMessage() for r in caplog.records if r.name == "config.demo"]
    assert f"upstream http://127.0.0.1:{upstream.port}/missing failed" in message
    assert "ClientResponseError: 404" in message
    assert "[redacted]" in message
    assert PASSWORD not in message and API_KEY not in message


async def test_the_upstream_url_never_comes_from_the_host_header(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    # Django's test clients give no server port (as a unix socket or WSGI
    # would not): the demo must not fall back on the Host the caller sent.
    host = f"127.0.0.1:{upstream.port}"
    with override_settings(DEMO_UPSTREAM_URL=""):
        answered = await AsyncClient().get("/", headers={"host": host})
    assert answered.status_code == 503
    assert set(answered.json()) == {"error", "request_id"}
    assert upstream.requests == 0
    assert "set DEMO_UPSTREAM_URL" in caplog.text


def test_under_wsgi_the_host_header_is_not_called_either(upstream: Upstream) -> None:
    with override_settings(DEMO_UPSTREAM_URL=""):
        answered = Client().get("/", HTTP_HOST=f"127.0.0.1:{upstream.port}")
    assert answered.status_code == 503
    assert upstream.requests == 0


def asgi_request(server: Any, host: bytes = b"attacker.example:1") -> ASGIRequest:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [(b"host", host)],
        "server": server,
    }
    return ASGIRequest(scope, io.BytesIO())


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        # A pod or container IP: called back on loopback, a host ALLOWED_HOSTS has.
        (("10.1.2.3", 8000), "http://127.0.0.1:8000/upstream/"),
        (("127.0.0.1", 8123), "http://127.0.0.1:8123/upstream/"),
        (("2001:db8::5", 8000), "http://[::1]:8000/upstream/"),
        (("/run/sessionhub.sock", None), None),  # a unix socket has no port
        (None, None),
    ],
)
def test_the_embedded_upstream_is_this_server_on_loopback(
    server: Any, expected: str | None
) -> None:
    with override_settings(ROOT_URLCONF="config.urls"):
        assert embedded_upstream(asgi_request(server)) == expected


# Real gunicorn with the environment of the Docker and Kubernetes setups.

GUNICORN_READY = r"Listening at: http://127\.0\.0\.1:(\d+)"


def get(server: Server, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects; (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextmanager
def gunicorn(env: dict[str, str], **extra: str) -> Iterator[Server]:
    """The reference deployment under ``env``, on loopback, one worker."""
    settings = server_env(
        **{**env, "GUNICORN_BIND": "127.0.0.1:0", "WEB_CONCURRENCY": "1", **extra},
    )
    settings["SESSIONHUB_LOG_LEVEL"] = "INFO"
    command = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
    with running(command, ready=GUNICORN_READY, env=settings) as server:
        server.wait_for("Application startup complete")
        yield server


@pytest.mark.e2e
def test_kubernetes_as_shipped_serves_the_demo_and_the_probe() -> None:
    env = kubernetes_env()
    (public,) = env["DJANGO_ALLOWED_HOSTS"].split(",")
    probe = container("proxy")["readinessProbe"]
    with gunicorn(env) as server:
        # What the Ingress forwards: the public host, over HTTPS.
        demo = get(server, "/", {"Host": public, "X-Forwarded-Proto": "https"})
        plain = get(server, "/", {"Host": public})
        ready = get(server, probe["httpGet"]["path"], {"Host": probe_host(probe)})
    status, headers, body = demo
    assert status == 200, body
    upstream = json.loads(body)["upstream"]
    assert upstream["message"] == "hello from the embedded upstream"
    assert "max-age=31536000" in headers["strict-transport-security"]
    assert plain[0] == 301 and plain[1]["location"] == f"https://{public}/"
    # Never redirected, and the status only.
    assert (ready[0], json.loads(ready[2])) == (200, {"status": "ok"})


@pytest.mark.e2e
def test_docker_as_shipped_passes_its_healthcheck_with_the_manifest_s_hosts() -> None:
    env = {**docker_env(), "DJANGO_ALLOWED_HOSTS": kubernetes_env()["DJANGO_ALLOWED_HOSTS"]}
    with gunicorn(env) as server:
        # What the HEALTHCHECK's urlopen() sends (Host: 127.0.0.1:PORT), on our port.
        url = urlsplit(docker_healthcheck_url())._replace(netloc=f"127.0.0.1:{server.port}")
        with urllib.request.urlopen(url.geturl(), timeout=10) as response:
            health = response.status, json.load(response)
        demo = get(server, "/", {"Host": "sessionhub.example.com"})
    assert health == (200, {"status": "ok"})
    assert demo[0] == 200, demo


@pytest.mark.e2e
def test_gunicorn_refuses_to_start_without_a_secret_key() -> None:
    env = server_env(GUNICORN_BIND="127.0.0.1:0", WEB_CONCURRENCY="1")
    del env["DJANGO_SECRET_KEY"]
    command = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
    with running(command, ready=None, env=env) as server:
        wait_for_halt(server)
    assert "DJANGO_SECRET_KEY is not set" in server.log


@pytest.mark.e2e
def test_a_server_error_is_logged_with_its_traceback_and_not_shown() -> None:
    with gunicorn({}, DJANGO_SETTINGS_MODULE="tests.boom_project") as server:
        status, _, body = get(server, "/boom/", {"Host": "localhost"})
        server.wait_for("RuntimeError: boom")
    assert status == 500
    assert b"boom" not in body and b"Traceback" not in body
    log = server.log
    assert re.search(r"ERROR\] django\.request: Internal Server Error: /boom/", log)
    assert "Traceback (most recent call last)" in log


# Hostile bodies from a real upstream: each answer is valid JSON, and either
# the upstream's JSON (200) or a 502 with a request id.
ANSWERED = {
    "just-parseable-depth",
    "big-int",
    "problem-json",
    "lone-surrogate",
    "control-characters",
}


# Answered or refused as the Python version parses them: valid JSON either way.
EITHER = {"deep", "deep-object"}


@pytest.fixture(scope="module")
def bodies() -> Iterator[Upstream]:
    with running_bodies() as upstream:
        yield upstream


def strict_json(text: str) -> Any:
    """``text`` as JSON, refusing what RFC 8259 does not allow (NaN, Infinity)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("case", list(BODIES))
async def test_any_upstream_body_is_answered_with_valid_json(
    case: str, bodies: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    url = bodies.url_for(f"/body/{case}")
    with override_settings(DEMO_UPSTREAM_URL=url), caplog.at_level(logging.ERROR, "config"):
        response = await AsyncClient().get("/")
    assert response["Content-Type"] == "application/json"
    answer = strict_json(response.content.decode("utf-8"))
    if case in EITHER and response.status_code == 200:
        assert "upstream" in answer
        return
    if case in ANSWERED:
        assert response.status_code == 200, caplog.text
        assert "upstream" in answer
        return
    assert response.status_code == 502
    assert set(answer) == {"error", "request_id"}
    (record,) = [r for r in caplog.records if answer["request_id"] in r.getMessage()]
    assert "failed" in record.getMessage()


async def test_a_huge_body_is_not_read_past_the_bound(
    bodies: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    # The gzip bomb unpacks to 64 MiB; the demo stops at the first chunk past 1 MiB.
    url = bodies.url_for("/body/gzip-bomb")
    with override_settings(DEMO_UPSTREAM_URL=url), caplog.at_level(logging.ERROR, "config"):
        response = await AsyncClient().get("/")
    assert response.status_code == 502
    assert f"larger than {MAX_BODY_BYTES} bytes" in caplog.text


@pytest.mark.parametrize(
    "template",
    [
        "ftp://{user}:{password}@127.0.0.1:{port}/x",
        "http://{user}:{password}@127.0.0.1:{port}/missing",
        "http://{user}@127.0.0.1:{port}/missing",
        "http://{user}:{password}@[bad/",
    ],
)
async def test_every_part_of_the_url_s_userinfo_is_kept_from_the_log(
    template: str, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    # APIs that take their key as the basic-auth user name exist.
    user = "sk_live_" + TOKEN
    url = template.format(user=user, password=PASSWORD, port=upstream.port)
    with override_settings(DEMO_UPSTREAM_URL=url), caplog.at_level(logging.ERROR, "config"):
        response = await AsyncClient().get("/")
    assert response.status_code == 502
    assert "Traceback" in caplog.text
    for secret in (user, TOKEN, PASSWORD):
        assert secret not in caplog.text
        assert secret not in response.content.decode()
