"""The ASGI application check: hosts that mount Django, modules that fail to import.

``manage.py check --deploy`` runs it in a subprocess, as an operator would;
the hosts are real Starlette and FastAPI applications (``tests.checks_hosts``).
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import override_settings

from sessionhub.checks import check_asgi_application
from tests.servers import ROOT


def ids(path: str) -> list[str | None]:
    with override_settings(ASGI_APPLICATION=path):
        return [message.id for message in check_asgi_application(None)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("without_lifespan", ["sessionhub.W007"]),
        ("own", ["sessionhub.W007"]),
        ("fastapi_without", ["sessionhub.W007"]),
        ("merged_without", ["sessionhub.W007"]),
        ("nested", ["sessionhub.W007"]),
        ("on_host", ["sessionhub.W007"]),
        ("wrapped", ["sessionhub.W007"]),
        ("with_lifespan", []),
        ("by_name", []),
        ("helper", []),
        ("class_based", []),
        ("fastapi_with", []),
        ("merged_with", []),
        ("no_django", []),
        ("in_nested_code", []),
        ("empty_cell", ["sessionhub.W007"]),
    ],
)
def test_a_host_that_mounts_django_must_enter_sessionhub_s_lifespan(
    name: str, expected: list[str]
) -> None:
    assert ids(f"tests.checks_hosts.{name}") == expected


def test_the_warning_names_the_host_and_where_django_is_mounted() -> None:
    with override_settings(ASGI_APPLICATION="tests.checks_hosts.nested"):
        (message,) = check_asgi_application(None)
    assert "The ASGI application tests.checks_hosts.nested mounts Django (at '/api/v1')" in (
        message.msg
    )
    assert message.hint is not None
    assert "sessionhub.asgi.lifespan(" in message.hint


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("tests.raising_asgi.application", "KeyError: 'SESSIONHUB_TESTS_REDIS_URL', at line 9"),
        ("tests.exiting_asgi.application", "SystemExit: no configuration, at line 7"),
        ("tests.raising_module.application", "RuntimeError: this module fails on import"),
        ("tests.no_such_module.application", "ModuleNotFoundError: No module named"),
        ("tests.checks_apps.missing", "AttributeError: module 'tests.checks_apps' has no"),
        # An exception that cannot be shown is named by its type.
        ("tests.unprintable_module.application", "Unprintable, at line 11"),
    ],
)
def test_whatever_importing_the_application_raises_becomes_a_warning(
    path: str, error: str
) -> None:
    with override_settings(ASGI_APPLICATION=path):
        (message,) = check_asgi_application(None)
    module = path.rpartition(".")[0]
    assert message.id == "sessionhub.W008"
    assert message.msg.startswith(
        f"The ASGI application's module {module} could not be imported to check it: "
    )
    assert error in message.msg
    assert module not in sys.modules or module == "tests.checks_apps"


def test_only_check_deploy_imports_the_application() -> None:
    output = io.StringIO()
    with override_settings(ASGI_APPLICATION="tests.raising_asgi.application"):
        call_command("check", stdout=output, stderr=output)
        assert "sessionhub.W008" not in output.getvalue()
        call_command("check", "--deploy", stdout=output, stderr=output)
    assert "(sessionhub.W008)" in output.getvalue()


def manage_py_check(asgi: str) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy`` of a project serving ``asgi``, in its own process."""
    env = {
        "PATH": "",
        "PYTHONDEVMODE": "1",
        "DJANGO_SETTINGS_MODULE": "tests.deploy_check_settings",
        "SESSIONHUB_TESTS_ASGI": asgi,
    }
    command = [sys.executable, "manage.py", "check", "--deploy"]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_manage_py_check_reports_an_asgi_module_that_raises_key_error() -> None:
    result = manage_py_check("tests.raising_asgi.application")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "(sessionhub.W008) The ASGI application's module tests.raising_asgi" in result.stderr
    assert "KeyError: 'SESSIONHUB_TESTS_REDIS_URL'" in result.stderr


@pytest.mark.parametrize(
    ("host", "warned"), [("without_lifespan", True), ("with_lifespan", False)]
)
def test_manage_py_check_sees_a_starlette_host_that_mounts_django(host: str, warned: bool) -> None:
    result = manage_py_check(f"tests.checks_hosts.{host}")
    assert result.returncode == 0, result.stderr
    assert ("(sessionhub.W007)" in result.stderr) is warned
    assert "Traceback" not in result.stderr
