"""deploy/ parsed and checked: the files agree with each other on ports and timeouts."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host
from django.test import override_settings
from django.urls import resolve

from sessionhub.views import health
from sessionhub.workers import MARGIN, plan
from tests.deployfiles import (
    DEPLOY,
    ENVIRONMENTS,
    OPERATOR_ENV,
    ROOT,
    docker_env,
    docker_healthcheck_url,
    dockerfile,
    gunicorn_settings,
    kubernetes,
    kubernetes_env,
    port_of,
    probe_host,
    project_settings,
    systemd_env,
    systemd_unit,
    web_container,
)


@pytest.mark.parametrize("where", list(ENVIRONMENTS))
def test_graceful_timeout_covers_drain_requests_shutdown_and_closing(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = ENVIRONMENTS[where]()
    conf = gunicorn_settings(env, monkeypatch)
    assert conf["worker_class"] == "sessionhub.workers.UvicornWorker"
    settings = project_settings({**env, **OPERATOR_ENV}, monkeypatch)
    drain = settings["SESSIONHUB_DRAIN_SECONDS"]
    shutdown = settings["SESSIONHUB_SHUTDOWN_TIMEOUT"]
    close = settings["SESSIONHUB_CLOSE_TIMEOUT"]
    # The client's TIMEOUT bounds a request's upstream call; the worker's
    # budget gives requests what the other steps leave, without shrinking them.
    request = client_timeout(env, monkeypatch)
    budget = plan(conf["graceful_timeout"], drain, shutdown, close)
    assert not budget.shrunk and budget.requests >= request, (where, budget, env)
    assert conf["graceful_timeout"] >= drain + request + shutdown + close + MARGIN


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


def client_timeout(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> float:
    """The demo client's TIMEOUT that config/settings.py derives from ``env``."""
    settings = project_settings({**env, **OPERATOR_ENV}, monkeypatch)
    return float(settings["SESSIONHUB"]["default"]["TIMEOUT"])


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
    assert read_timeouts and min(read_timeouts) > client_timeout(systemd_env(), monkeypatch)
    health_block = re.search(r"location = /health/ \{(.*?)\}", nginx, re.S)
    assert health_block is not None
    (host,) = re.findall(r"proxy_set_header Host (\S+);", health_block.group(1))
    settings = project_settings({**systemd_env(), **OPERATOR_ENV}, monkeypatch)
    assert validate_host(host, settings["ALLOWED_HOSTS"])


def test_nginx_serves_https_and_says_so_in_the_header_django_trusts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    settings = project_settings({**systemd_env(), **OPERATOR_ENV}, monkeypatch)
    header, value = settings["SECURE_PROXY_SSL_HEADER"]
    assert value == "https"
    # HTTP_X_FORWARDED_PROTO in Django's META is X-Forwarded-Proto on the wire.
    name = header.removeprefix("HTTP_").replace("_", "-").title()
    tls = re.search(r"server \{\s*listen 443 ssl;(.*?)\n\}", nginx, re.S)
    assert tls is not None
    # Set from nginx's own $scheme, so a client cannot claim HTTPS over HTTP.
    assert re.findall(rf"proxy_set_header {name} (\S+);", tls.group(1)) == ["$scheme"]
    plain = re.search(r"server \{\s*listen 80;(.*?)\n\}", nginx, re.S)
    assert plain is not None
    assert "return 301 https://$host$request_uri;" in plain.group(1)
    assert "proxy_pass" not in plain.group(1).partition("location / {")[2]


def test_the_image_serves_on_its_exposed_port_and_checks_the_health_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instructions = dict(dockerfile())
    env = docker_env()
    port = port_of(env["GUNICORN_BIND"])
    assert instructions["EXPOSE"] == str(port)
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    url = docker_healthcheck_url()
    assert url == f"http://127.0.0.1:{port}/health/"
    assert instructions["CMD"] == '["gunicorn", "-c", "deploy/gunicorn.conf.py"]'
    for source in [a.split()[0] for i, a in dockerfile() if i == "COPY"]:
        assert (DEPLOY.parent / source).exists(), source
    # The health check's Host is accepted with DJANGO_ALLOWED_HOSTS set as the
    # Kubernetes manifest sets it (a bare 400 marked the container unhealthy).
    hosts = {"DJANGO_ALLOWED_HOSTS": kubernetes_env()["DJANGO_ALLOWED_HOSTS"]}
    settings = project_settings({**env, **hosts, **OPERATOR_ENV}, monkeypatch)
    assert validate_host("127.0.0.1", settings["ALLOWED_HOSTS"])
    with override_settings(ROOT_URLCONF="config.urls"):
        assert resolve("/health/").func is health


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
    assert probe["httpGet"]["port"] == container["ports"][0]["name"]
    assert container["ports"][0]["containerPort"] == port_of(env["GUNICORN_BIND"])
    # The probe's path is sessionhub's health view, with a Host Django accepts.
    with override_settings(ROOT_URLCONF="config.urls"):
        assert resolve(probe["httpGet"]["path"]).func is health
    settings = project_settings({**env, **OPERATOR_ENV}, monkeypatch)
    assert validate_host(probe_host(probe), settings["ALLOWED_HOSTS"])
    assert "httpGet" not in container["livenessProbe"], "liveness must not restart a drain"
    (service,) = [doc for doc in kubernetes() if doc["kind"] == "Service"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_kubernetes_readiness_rides_out_a_burst_of_overload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = web_container()["readinessProbe"]
    # A full worker answers the probe 503 at once; requests holding it free
    # up within the client TIMEOUT. One failed probe must not take the pod
    # out, nor failures shorter than that TIMEOUT.
    assert probe["failureThreshold"] >= 3
    assert probe.get("successThreshold", 1) == 1
    failing_for = probe["periodSeconds"] * probe["failureThreshold"]
    assert failing_for > client_timeout(kubernetes_env(), monkeypatch)
    assert probe["timeoutSeconds"] < probe["periodSeconds"]


def test_kubernetes_runs_a_pinned_image() -> None:
    image = web_container()["image"]
    # registry/name:tag, with a tag of its own: a rollout or a rollback then
    # runs the image it names, not whatever :latest meant when a node pulled it.
    match = re.fullmatch(r"[\w.-]+(?::\d+)?/[\w./-]+:([\w][\w.-]*)", image)
    assert match is not None, f"{image} has no tag"
    assert match.group(1) != "latest", f"{image}: pin a tag, not :latest"


@pytest.mark.parametrize("where", list(ENVIRONMENTS))
def test_no_setup_ships_a_secret_key_and_none_starts_without_one(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = ENVIRONMENTS[where]()
    assert "DJANGO_SECRET_KEY" not in env
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set") as refused:
        project_settings(env, monkeypatch)
    assert "secrets.token_urlsafe" in str(refused.value)
    settings = project_settings({**env, **OPERATOR_ENV}, monkeypatch)
    assert settings["SECRET_KEY"] == OPERATOR_ENV["DJANGO_SECRET_KEY"]


def test_the_kubernetes_secret_key_comes_from_a_secret() -> None:
    (item,) = [i for i in web_container()["env"] if i["name"] == "DJANGO_SECRET_KEY"]
    assert set(item) == {"name", "valueFrom"}
    assert "secretKeyRef" in item["valueFrom"]


def test_systemd_requires_its_environment_file() -> None:
    # Without the leading "-", systemd refuses to start the unit when the file
    # holding DJANGO_SECRET_KEY is missing.
    (path,) = systemd_unit()["EnvironmentFile"]
    assert path.startswith("/")


def test_debug_runs_with_a_throwaway_key(monkeypatch: pytest.MonkeyPatch) -> None:
    first = project_settings({"DJANGO_DEBUG": "1"}, monkeypatch)["SECRET_KEY"]
    second = project_settings({"DJANGO_DEBUG": "1"}, monkeypatch)["SECRET_KEY"]
    assert len(first) >= 50 and first != second


def manage_check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy`` in a fresh process whose environment is ``env`` alone."""
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    base = {k: v for k, v in os.environ.items() if k in keep}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env, **OPERATOR_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("where", ["systemd", "kubernetes"])
def test_check_deploy_is_clean_behind_the_tls_proxy(where: str) -> None:
    result = manage_check_deploy(ENVIRONMENTS[where]())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_served_over_plain_http() -> None:
    # The README's first command and the bare image serve plain HTTP: the
    # HTTPS settings are off there, and check --deploy says so.
    result = manage_check_deploy(docker_env())
    assert result.returncode == 1
    for warning in ("security.W004", "security.W008", "security.W016"):
        assert warning in result.stderr
    assert "security.W009" not in result.stderr


def test_the_bound_on_connections_per_worker_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = gunicorn_settings({}, monkeypatch)
    assert (default["worker_connections"], default["backlog"]) == (100, 2048)
    changed = gunicorn_settings(
        {"GUNICORN_WORKER_CONNECTIONS": "0", "GUNICORN_BACKLOG": "64"}, monkeypatch
    )
    assert (changed["worker_connections"], changed["backlog"]) == (0, 64)
    with pytest.raises(SystemExit, match="GUNICORN_WORKER_CONNECTIONS"):
        gunicorn_settings({"GUNICORN_WORKER_CONNECTIONS": "many"}, monkeypatch)


@pytest.mark.parametrize("where", list(ENVIRONMENTS))
def test_idle_keepalive_connections_leave_room_under_the_bound(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn counts idle connections against the bound: nginx's cache of idle
    # connections to gunicorn (per nginx worker) must not fill a worker.
    nginx = (DEPLOY / "nginx.conf").read_text()
    idle = re.search(r"^\s*keepalive (\d+);", nginx, re.M)
    assert idle is not None
    bound = gunicorn_settings(ENVIRONMENTS[where](), monkeypatch)["worker_connections"]
    assert bound == 0 or int(idle.group(1)) <= bound // 3
