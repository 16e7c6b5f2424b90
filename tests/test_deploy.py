"""deploy/ parsed and checked: the files agree with each other on ports and timeouts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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
    container,
    docker_env,
    docker_healthcheck_url,
    dockerfile,
    gunicorn_settings,
    kubernetes,
    kubernetes_env,
    port_of,
    probe_host,
    project_settings,
    proxy_config,
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
    env = kubernetes_env()
    conf = gunicorn_settings(env, monkeypatch)
    grace = pod["terminationGracePeriodSeconds"]
    for name in ("web", "proxy"):
        pre_stop = container(name)["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        assert grace >= int(pre_stop[1]) + conf["graceful_timeout"] + 5
    # nginx lets the requests it passed on finish for as long as gunicorn may take.
    shutdown = re.search(r"worker_shutdown_timeout (\d+)s;", proxy_config())
    assert shutdown is not None
    assert conf["graceful_timeout"] <= int(shutdown.group(1)) <= grace - int(pre_stop[1])
    proxy = container("proxy")
    probe = proxy["readinessProbe"]
    assert probe["httpGet"]["port"] == proxy["ports"][0]["name"]
    # The probe's path is sessionhub's health view, with a Host Django accepts.
    with override_settings(ROOT_URLCONF="config.urls"):
        assert resolve(probe["httpGet"]["path"]).func is health
    settings = project_settings({**env, **OPERATOR_ENV}, monkeypatch)
    assert validate_host(probe_host(probe), settings["ALLOWED_HOSTS"])
    assert "httpGet" not in proxy["livenessProbe"], "liveness must not restart a drain"
    (service,) = [doc for doc in kubernetes() if doc["kind"] == "Service"]
    assert service["spec"]["ports"][0]["targetPort"] == proxy["ports"][0]["name"]


def test_kubernetes_reaches_gunicorn_through_nginx_only(monkeypatch: pytest.MonkeyPatch) -> None:
    config = proxy_config()
    bind = gunicorn_settings(kubernetes_env(), monkeypatch)["bind"]
    # gunicorn listens on the pod's loopback, where nginx sends every request.
    assert [b.rpartition(":")[0] for b in bind] == ["127.0.0.1"]
    assert re.findall(r"server ([\d.]+:\d+);", config) == bind
    listen = re.search(r"listen (\d+);", config)
    assert listen is not None and int(listen.group(1)) == container("proxy")["ports"][0][
        "containerPort"]  # fmt: skip
    assert "ports" not in web_container()


def test_kubernetes_readiness_rides_out_a_hiccup(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = container("proxy")["readinessProbe"]
    # One failed probe must not take the pod out, nor failures shorter than
    # the client TIMEOUT (a worker busy with a slow upstream).
    assert probe["failureThreshold"] >= 3
    assert probe.get("successThreshold", 1) == 1
    failing_for = probe["periodSeconds"] * probe["failureThreshold"]
    assert failing_for > client_timeout(kubernetes_env(), monkeypatch)
    assert probe["timeoutSeconds"] < probe["periodSeconds"]


@pytest.mark.parametrize("name", ["web", "proxy"])
def test_kubernetes_runs_pinned_images(name: str) -> None:
    image = container(name)["image"]
    # [registry/]name:tag, with a tag of its own: a rollout or a rollback then
    # runs the image it names, not whatever :latest meant when a node pulled it.
    match = re.fullmatch(r"(?:[\w.-]+(?::\d+)?/)?[\w./-]+:([\w][\w.-]*)", image)
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


@pytest.mark.parametrize("value", ["2.5", "nan", "inf", "1e3", "abc"])
@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("SESSIONHUB_MAX_REQUESTS_IN_FLIGHT", "SESSIONHUB_MAX_REQUESTS_IN_FLIGHT"),
        ("DJANGO_HSTS_SECONDS", "SECURE_HSTS_SECONDS"),
    ],
)
def test_a_count_from_the_environment_is_a_whole_number_or_a_clear_error(
    variable: str, setting: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not truncated (2.5 would be 2), and no bare ValueError or OverflowError from int().
    with pytest.raises(ImproperlyConfigured) as raised:
        project_settings({variable: value, **OPERATOR_ENV}, monkeypatch)
    assert str(raised.value) == f"{variable}={value!r} must be a whole number."
    assert project_settings({variable: "7", **OPERATOR_ENV}, monkeypatch)[setting] == 7


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


def test_the_backlog_comes_from_the_environment_and_connections_are_not_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = gunicorn_settings({}, monkeypatch)
    assert default["backlog"] == 2048
    # sessionhub's worker bounds requests, not connections: gunicorn's
    # worker_connections would not be used.
    assert "worker_connections" not in default
    assert gunicorn_settings({"GUNICORN_BACKLOG": "64"}, monkeypatch)["backlog"] == 64
    with pytest.raises(SystemExit, match="GUNICORN_BACKLOG"):
        gunicorn_settings({"GUNICORN_BACKLOG": "many"}, monkeypatch)


NGINX_CONFIGS = {"site": lambda: (DEPLOY / "nginx.conf").read_text(), "kubernetes": proxy_config}


@pytest.mark.parametrize("where", list(NGINX_CONFIGS))
def test_nginx_bounds_idle_clients_and_says_when_it_got_each_request(where: str) -> None:
    config = NGINX_CONFIGS[where]()
    # Every location that passes requests on stamps them, so that a worker
    # can refuse at once what waited too long.
    locations = re.findall(r"location [^{]*\{(.*?)\n\s*\}", config, re.S)
    proxied = [body for body in locations if "proxy_pass" in body]
    assert proxied
    for body in proxied:
        assert 'proxy_set_header X-Request-Start "t=${msec}";' in body
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        seconds = re.findall(rf"^\s*{directive} (\d+)s;", config, re.M)
        assert seconds and all(0 < int(s) <= 15 for s in seconds), directive


def test_kubernetes_nginx_closes_idle_gunicorn_connections_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream = re.search(r"upstream sessionhub \{(.*?)\}", proxy_config(), re.S)
    assert upstream is not None
    keepalive = re.search(r"keepalive_timeout (\d+)s;", upstream.group(1))
    conf = gunicorn_settings(kubernetes_env(), monkeypatch)
    assert keepalive is not None and int(keepalive.group(1)) < conf["keepalive"]


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
@pytest.mark.parametrize("where", list(NGINX_CONFIGS))
def test_nginx_accepts_the_shipped_configuration(where: str, tmp_path: Path) -> None:
    config = NGINX_CONFIGS[where]()
    if where == "site":  # included in http{} of the distribution's nginx.conf
        certificate = tmp_path / "cert.pem"
        key = tmp_path / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=x"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        config = config.replace("/etc/ssl/certs/example.com.pem", str(certificate))
        config = config.replace("/etc/ssl/private/example.com.key", str(key))
        config = f"events {{}}\nhttp {{\n keepalive_timeout 65;\n{config}\n}}\n"
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n{config}")
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
