"""deploy/ parsed: the environment each setup gives the project, and its probes."""

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

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

# What an operator sets in every environment (a secret store, /etc/sessionhub/env).
OPERATOR_ENV = {"DJANGO_SECRET_KEY": "deploy-tests-" + "k7" * 30}


def clean_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Set ``env`` alone of the variables deploy/ and config/ read."""
    for key in list(os.environ):
        if key.startswith(("GUNICORN_", "WEB_CONCURRENCY", "DJANGO_", "SESSIONHUB_", "DEMO_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def gunicorn_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """deploy/gunicorn.conf.py evaluated under ``env`` alone."""
    with monkeypatch.context() as patch:
        clean_env(patch, env)
        return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def project_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """config/settings.py evaluated under ``env`` alone."""
    with monkeypatch.context() as patch:
        clean_env(patch, env)
        return runpy.run_path(str(ROOT / "config" / "settings.py"))


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


def docker_healthcheck_url() -> str:
    """The URL the image's HEALTHCHECK fetches."""
    match = re.search(r"urlopen\('([^']+)'", dict(dockerfile())["HEALTHCHECK"])
    assert match is not None
    return match.group(1)


def kubernetes() -> Iterator[dict[str, Any]]:
    with (DEPLOY / "kubernetes" / "deployment.yaml").open() as manifest:
        yield from yaml.safe_load_all(manifest)


def container(name: str) -> dict[str, Any]:
    """The container called ``name`` of the Deployment's pod ("web": gunicorn, "proxy": nginx)."""
    (deployment,) = [doc for doc in kubernetes() if doc["kind"] == "Deployment"]
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (found,) = [c for c in containers if c["name"] == name]
    return found  # type: ignore[no-any-return]


def web_container() -> dict[str, Any]:
    return container("web")


def proxy_config() -> str:
    """The pod's nginx configuration (its ConfigMap)."""
    (config_map,) = [doc for doc in kubernetes() if doc["kind"] == "ConfigMap"]
    return config_map["data"]["nginx.conf"]  # type: ignore[no-any-return]


def kubernetes_env() -> dict[str, str]:
    return {item["name"]: item["value"] for item in web_container()["env"] if "value" in item}


def probe_host(probe: dict[str, Any]) -> str:
    """The Host header a Kubernetes httpGet probe sends."""
    (host,) = [h["value"] for h in probe["httpGet"]["httpHeaders"] if h["name"] == "Host"]
    return host  # type: ignore[no-any-return]


def port_of(bind: str) -> int:
    return int(bind.rpartition(":")[2])


ENVIRONMENTS = {"systemd": systemd_env, "docker": docker_env, "kubernetes": kubernetes_env}
