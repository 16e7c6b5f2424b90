"""deploy/ parsed and checked: the files agree with each other on ports and timeouts."""

from __future__ import annotations

import os
import re
import runpy
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import override_settings
from django.urls import resolve

from sessionhub.views import health
from sessionhub.workers import MARGIN

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def gunicorn_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """deploy/gunicorn.conf.py evaluated under ``env`` alone."""
    with monkeypatch.context() as patch:
        for name in ("GUNICORN_", "WEB_CONCURRENCY"):
            for key in [k for k in os.environ if k.startswith(name)]:
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def systemd_unit() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, all values of repeated keys in order."""
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "sessionhub.service").read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def systemd_env() -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in systemd_unit()["Environment"])


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0], line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, arguments in dockerfile():
        if instruction == "ENV":
            for item in shlex.split(arguments):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def kubernetes() -> Iterator[dict[str, Any]]:
    with (DEPLOY / "kubernetes" / "deployment.yaml").open() as manifest:
        yield from yaml.safe_load_all(manifest)


def web_container() -> dict[str, Any]:
    (deployment,) = [doc for doc in kubernetes() if doc["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def kubernetes_env() -> dict[str, str]:
    return {item["name"]: item["value"] for item in web_container()["env"] if "value" in item}


def port_of(bind: str) -> int:
    return int(bind.rpartition(":")[2])


ENVIRONMENTS = {"systemd": systemd_env, "docker": docker_env, "kubernetes": kubernetes_env}


@pytest.mark.parametrize("where", list(ENVIRONMENTS))
def test_graceful_timeout_covers_drain_requests_and_closing(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = ENVIRONMENTS[where]()
    conf = gunicorn_settings(env, monkeypatch)
    assert conf["worker_class"] == "sessionhub.workers.UvicornWorker"
    drain = float(env["SESSIONHUB_DRAIN_SECONDS"])
    close = float(env["SESSIONHUB_CLOSE_TIMEOUT"])
    # The client's TIMEOUT bounds a request's upstream call (config/settings.py).
    request = float(env.get("DEMO_UPSTREAM_TIMEOUT", "10"))
    assert conf["graceful_timeout"] >= drain + request + close + MARGIN, (where, conf, env)


def test_systemd_waits_longer_than_gunicorn_and_signals_the_master_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unit = systemd_unit()
    conf = gunicorn_settings(systemd_env(), monkeypatch)
    assert int(unit["TimeoutStopSec"][0]) >= conf["graceful_timeout"] + 5
    assert unit["KillSignal"] == ["SIGTERM"]
    assert unit["KillMode"] == ["mixed"]
    assert unit["ExecStart"][0].endswith("gunicorn -c deploy/gunicorn.conf.py")
    assert unit["ExecReload"] == ["/bin/kill -s HUP $MAINPID"]


def test_nginx_reaches_gunicorn_and_closes_idle_connections_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    conf = gunicorn_settings(systemd_env(), monkeypatch)
    upstream = re.search(r"upstream sessionhub \{(.*?)\n\}", nginx, re.S)
    assert upstream is not None
    server = re.search(r"server ([\d.]+:\d+)", upstream.group(1))
    assert server is not None and [server.group(1)] == conf["bind"]
    keepalive = re.search(r"keepalive_timeout (\d+)s;", upstream.group(1))
    assert keepalive is not None and int(keepalive.group(1)) < conf["keepalive"]
    read_timeouts = {int(t) for t in re.findall(r"proxy_read_timeout (\d+)s;", nginx)}
    assert read_timeouts and min(read_timeouts) > float(systemd_env()["DEMO_UPSTREAM_TIMEOUT"])
    health_block = re.search(r"location = /health/ \{(.*?)\}", nginx, re.S)
    assert health_block is not None
    assert "proxy_set_header Host localhost;" in health_block.group(1)


def test_the_image_serves_on_its_exposed_port_and_checks_the_health_view() -> None:
    instructions = dict(dockerfile())
    port = port_of(docker_env()["GUNICORN_BIND"])
    assert instructions["EXPOSE"] == str(port)
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    assert f"http://127.0.0.1:{port}/health/" in instructions["HEALTHCHECK"]
    assert instructions["CMD"] == '["gunicorn", "-c", "deploy/gunicorn.conf.py"]'
    for source in [a.split()[0] for i, a in dockerfile() if i == "COPY"]:
        assert (DEPLOY.parent / source).exists(), source


def test_kubernetes_gives_shutdown_time_and_probes_the_health_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (deployment,) = [doc for doc in kubernetes() if doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = web_container()
    env = kubernetes_env()
    conf = gunicorn_settings(env, monkeypatch)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod["terminationGracePeriodSeconds"]
    assert grace >= int(pre_stop[1]) + conf["graceful_timeout"] + 5
    probe = container["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] <= int(pre_stop[1])
    assert probe["httpGet"]["port"] == container["ports"][0]["name"]
    assert container["ports"][0]["containerPort"] == port_of(env["GUNICORN_BIND"])
    # The probe's path is sessionhub's health view, with a Host Django accepts.
    with override_settings(ROOT_URLCONF="config.urls"):
        assert resolve(probe["httpGet"]["path"]).func is health
    (host,) = [h["value"] for h in probe["httpGet"]["httpHeaders"] if h["name"] == "Host"]
    assert host in env["DJANGO_ALLOWED_HOSTS"].split(",")
    assert "httpGet" not in container["livenessProbe"], "liveness must not restart a drain"
    (service,) = [doc for doc in kubernetes() if doc["kind"] == "Service"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
