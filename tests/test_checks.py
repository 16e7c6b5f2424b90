from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.conf import settings
from django.core.checks import CheckMessage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from sessionhub.checks import check_asgi_application, check_settings

BAD_SETTINGS = [
    pytest.param(["default"], "sessionhub.E001", "must be a dict of client names", id="E001-list"),
    pytest.param({"default": "fast"}, "sessionhub.E001", "must be a dict of options", id="E001"),
    pytest.param(
        {"default": {"TIMEOUTS": 5}},
        "sessionhub.E002",
        "unknown option 'TIMEOUTS'",
        id="E002",
    ),
    pytest.param(
        {"default": {"TIMEOUT": "5"}},
        "sessionhub.E003",
        "SESSIONHUB['default']['TIMEOUT'] must be a number of seconds or None, not str.",
        id="E003",
    ),
    pytest.param(
        {"default": {"LIMIT": True}}, "sessionhub.E003", "must be an int", id="E003-bool"
    ),
    pytest.param(
        {"default": {"HEADERS": {"X-Id": 5}}},
        "sessionhub.E003",
        "SESSIONHUB['default']['HEADERS']['X-Id'] must be a str, not int.",
        id="E003-headers",
    ),
    pytest.param(
        {"default": {"FACTORY": "tests.no_such_module.factory"}},
        "sessionhub.E004",
        "'tests.no_such_module.factory' cannot be imported",
        id="E004",
    ),
    pytest.param(
        {"default": {"FACTORY": "sessionhub.validation.DEFAULT_FACTORY"}},
        "sessionhub.E004",
        "is not callable",
        id="E004-not-callable",
    ),
    pytest.param(
        {"default": {"BASE_URL": "api.example.com/v1"}},
        "sessionhub.E005",
        "SESSIONHUB['default']['BASE_URL'] must start with http:// or https://.",
        id="E005",
    ),
    pytest.param(
        {"default": {"BASE_URL": "ftp://files.example.com/"}},
        "sessionhub.E005",
        "SESSIONHUB['default']['BASE_URL'] must start with http:// or https://.",
        id="E005-scheme",
    ),
    pytest.param(
        {"payments": {}, "search": {}},
        "sessionhub.E006",
        "no 'default' client (it has 'payments', 'search')",
        id="E006",
    ),
    pytest.param({"default": {"TIMEOUT": 0}}, "sessionhub.E007", "greater than 0", id="E007"),
    pytest.param(
        {"default": {"LIMIT_PER_HOST": -1}}, "sessionhub.E007", "from 0 to", id="E007-limit"
    ),
    pytest.param(
        {"default": {"TTL_DNS_CACHE": -5}}, "sessionhub.E007", "DNS cache off", id="E007-dns"
    ),
    pytest.param(
        {"default": {"COOKIES": "all"}},
        "sessionhub.E007",
        "SESSIONHUB['default']['COOKIES'] must be \"none\" or \"shared\".",
        id="E007-cookies",
    ),
    pytest.param(
        {"default": {"CA_BUNDLE": "/nonexistent/ca.pem"}},
        "sessionhub.E007",
        "must name a file of PEM certificates that exists",
        id="E007-ca-bundle",
    ),
    pytest.param(
        {"default": {"OPTIONS": {"read_bufsiz": 2**17}}},
        "sessionhub.E008",
        "['OPTIONS'] has 'read_bufsiz', which aiohttp.ClientSession does not take.",
        id="E008",
    ),
]


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [message.id for message in messages]


def run_check(*args: str) -> str:
    """``manage.py check`` output, errors included."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", *args, stdout=out, stderr=err)
    except SystemCheckError as exc:
        return f"{out.getvalue()}{err.getvalue()}{exc}"
    return f"{out.getvalue()}{err.getvalue()}"


@pytest.mark.parametrize(("setting", "check_id", "fragment"), BAD_SETTINGS)
def test_each_error_is_reported_by_the_check(setting: Any, check_id: str, fragment: str) -> None:
    with override_settings(SESSIONHUB=setting):
        messages = check_settings(None)
    assert ids(messages) == [check_id]
    assert fragment in messages[0].msg
    assert messages[0].is_serious()


@pytest.mark.parametrize(("setting", "check_id", "fragment"), BAD_SETTINGS)
def test_each_error_fails_manage_py_check(setting: Any, check_id: str, fragment: str) -> None:
    with override_settings(SESSIONHUB=setting):
        output = run_check()
    assert f"({check_id})" in output
    assert fragment in output


def test_an_unknown_option_hints_at_the_closest_name() -> None:
    with override_settings(SESSIONHUB={"default": {"limit_per_hots": 5}}):
        (message,) = check_settings(None)
    assert message.hint is not None
    assert message.hint.startswith("Did you mean 'LIMIT_PER_HOST'?")


def test_every_problem_of_every_client_is_reported() -> None:
    setting = {
        "default": {"TIMEOUT": -1, "VERIFY": "yes"},
        "payments": {"BASE_URL": "payments", "COOKIE": "shared"},
    }
    with override_settings(SESSIONHUB=setting):
        messages = check_settings(None)
    assert sorted(ids(messages)) == [  # type: ignore[type-var]
        "sessionhub.E002",
        "sessionhub.E003",
        "sessionhub.E005",
        "sessionhub.E007",
    ]


def test_a_valid_setting_passes() -> None:
    setting = {
        "default": {},
        "payments": {
            "BASE_URL": "https://payments.example.com/v2/",
            "HEADERS": {"Authorization": "Bearer x"},
            "TIMEOUT": 5,
            "CONNECT_TIMEOUT": 1.5,
            "READ_TIMEOUT": None,
            "LIMIT": 0,
            "LIMIT_PER_HOST": 10,
            "KEEPALIVE_TIMEOUT": 30,
            "TTL_DNS_CACHE": None,
            "VERIFY": True,
            "CA_BUNDLE": None,
            "RAISE_FOR_STATUS": True,
            "TRUST_ENV": True,
            "COOKIES": "shared",
            "OPTIONS": {"read_bufsize": 2**17},
        },
        # Keywords of a FACTORY of one's own are not aiohttp's to judge.
        "search": {"FACTORY": "sessionhub.factories.httpx_client", "OPTIONS": {"http2": False}},
    }
    with override_settings(SESSIONHUB=setting):
        assert check_settings(None) == []
        assert "System check identified no issues" in run_check()


def test_no_setting_is_valid() -> None:
    assert check_settings(None) == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"VERIFY": False}, ["sessionhub.W002"]),
        ({"VERIFY": False, "CA_BUNDLE": "ca.pem"}, ["sessionhub.W002", "sessionhub.W003"]),
    ],
)
def test_turning_verification_off_warns(
    options: dict[str, Any], expected: list[str], tmp_path: Path
) -> None:
    if "CA_BUNDLE" in options:
        trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        options = {**options, "CA_BUNDLE": str(tmp_path / "ca.pem")}
    with override_settings(SESSIONHUB={"default": options}):
        messages = check_settings(None)
        output = run_check()
    assert ids(messages) == expected
    assert not any(message.is_serious() for message in messages)
    for check_id in expected:
        assert f"({check_id})" in output


@pytest.mark.parametrize("path", ["tests.checks_apps.plain", "tests.checks_apps.wrapped_plain"])
def test_serving_django_s_plain_handler_warns(path: str) -> None:
    with override_settings(ASGI_APPLICATION=path):
        messages = check_asgi_application(None)
        output = run_check("--deploy")
    assert ids(messages) == ["sessionhub.W001"]
    assert path in messages[0].msg
    assert "(sessionhub.W001)" in output


@pytest.mark.parametrize(
    "path",
    [
        "tests.checks_apps.lifespan_aware",
        "tests.checks_apps.wrapped_lifespan_aware",
        "tests.checks_apps.other",
        "tests.checks_apps.cyclic",
        "config.asgi.application",
    ],
)
def test_other_applications_do_not_warn(path: str) -> None:
    with override_settings(ASGI_APPLICATION=path):
        assert check_asgi_application(None) == []


@pytest.mark.parametrize(
    ("settings_module", "expected"),
    [
        ("tests.plainproject.settings", ["sessionhub.W001"]),
        # An asgi.py that calls its host "app" (uvicorn's convention) is found too.
        ("tests.appproject.settings", ["sessionhub.W007"]),
        ("config.settings", []),  # config/asgi.py is lifespan-aware
        ("tests.settings", []),  # no tests/asgi.py: nothing to judge
        ("tests.emptyproject.settings", []),  # an asgi.py without an application
        ("settings", []),  # no package, and no top-level asgi module
        ("no_such_package.settings", []),
        (None, []),  # settings.configure()
    ],
)
def test_without_asgi_application_the_settings_package_s_asgi_module_is_checked(
    settings_module: str | None, expected: list[str]
) -> None:
    with override_settings(SETTINGS_MODULE=settings_module):
        del settings.ASGI_APPLICATION  # type: ignore[misc]
        assert ids(check_asgi_application(None)) == expected


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SESSIONHUB_CLOSE_TIMEOUT", 0),
        ("SESSIONHUB_CLOSE_TIMEOUT", "5"),
        ("SESSIONHUB_DRAIN_SECONDS", -1),
        ("SESSIONHUB_DRAIN_SECONDS", None),
    ],
)
def test_shutdown_settings_must_be_seconds(setting: str, value: object) -> None:
    with override_settings(**{setting: value}):
        messages = check_settings(None)
        output = run_check()
    assert ids(messages) == ["sessionhub.E009"]
    assert messages[0].msg.startswith(f"{setting} must be a number of seconds")
    assert "(sessionhub.E009)" in output


def test_shutdown_settings_of_0_drain_and_a_positive_bound_pass() -> None:
    with override_settings(SESSIONHUB_CLOSE_TIMEOUT=0.5, SESSIONHUB_DRAIN_SECONDS=0):
        assert check_settings(None) == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"HEADERS": {"X-Api-Key": "k"}}, ["sessionhub.W006"]),
        ({"HEADERS": {"X-Api-Key": "k"}, "ALLOWED_ORIGINS": []}, ["sessionhub.W006"]),
        ({"HEADERS": {"X-Api-Key": "k"}, "BASE_URL": "https://api.example.com/"}, []),
        ({"HEADERS": {"X-Api-Key": "k"}, "ALLOWED_ORIGINS": ["https://api.example.com"]}, []),
        ({"HEADERS": {"X-Api-Key": "k"}, "ALLOWED_ORIGINS": ["*"]}, []),
        ({"HEADERS": {}}, []),
    ],
)
def test_headers_that_may_go_to_any_origin_warn(
    options: dict[str, Any], expected: list[str]
) -> None:
    with override_settings(SESSIONHUB={"default": options}):
        messages = check_settings(None)
        output = run_check()
    assert ids(messages) == expected
    assert not any(message.is_serious() for message in messages)
    for check_id in expected:
        assert f"({check_id})" in output
        assert "sends its HEADERS to any origin the code calls" in messages[0].msg
