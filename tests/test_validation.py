"""Each value that once passed the checks and then failed at run time, or leaked a secret.

Every case is reported by ``manage.py check`` with its id, and refused with the
same id when the client is built, before any request.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

import sessionhub
from sessionhub import conf, options
from sessionhub.checks import check_settings
from sessionhub.testing import LifespanFailedError, lifespan
from tests.hostile import (
    HOSTILE,
    LyingMapping,
    RaisingClass,
    RaisingFloat,
    RaisingInt,
    RaisingList,
    RaisingMapping,
)
from tests.servers import gunicorn_command, running, server_env, wait_for_halt
from tests.upstream import Upstream
from tests.views import fetch_json

SECRET = "s3cr3t-t0ken"


def run_check() -> str:
    """``manage.py check`` output, errors included."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", stdout=out, stderr=err)
    except SystemCheckError as exc:
        return f"{out.getvalue()}{err.getvalue()}{exc}"
    return f"{out.getvalue()}{err.getvalue()}"


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [message.id for message in messages]


def build_error(setting: Any) -> str:
    """The message ``get()`` raises for ``setting`` (which must be wrong)."""
    with override_settings(SESSIONHUB=setting), pytest.raises(ImproperlyConfigured) as info:
        options.client_config("default")
    return str(info.value)


HUGE = [float("inf"), float("-inf"), float("nan"), 10**400, 86_401, 1e300]


TIMEOUTS = ["TIMEOUT", "CONNECT_TIMEOUT", "READ_TIMEOUT", "KEEPALIVE_TIMEOUT"]


@pytest.mark.parametrize("option", TIMEOUTS)
@pytest.mark.parametrize("value", HUGE, ids=repr)
def test_infinite_and_huge_timeouts_are_errors_at_check_and_at_build(
    option: str, value: float
) -> None:
    setting = {"default": {option: value}}
    with override_settings(SESSIONHUB=setting):
        messages = check_settings(None)
        output = run_check()
    assert ids(messages) == ["sessionhub.E007"]
    assert "at most 86400" in messages[0].msg
    assert "(sessionhub.E007)" in output
    assert "(sessionhub.E007)" in build_error(setting)


@pytest.mark.parametrize("option", ["LIMIT", "LIMIT_PER_HOST", "TTL_DNS_CACHE"])
def test_huge_counts_are_errors(option: str) -> None:
    with override_settings(SESSIONHUB={"default": {option: 10**400}}):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E007"
    assert "not a very large number" in message.msg


async def test_a_timeout_at_the_bound_builds_a_client_that_works(upstream: Upstream) -> None:
    # The bound is not a cliff: its largest values still make working clients.
    options = {"TIMEOUT": 86_400, "CONNECT_TIMEOUT": 86_400, "KEEPALIVE_TIMEOUT": 86_400}
    with override_settings(SESSIONHUB={"default": options}):
        session = sessionhub.get()
    assert (await fetch_json(session, upstream.url))["ok"] is True


SHUTDOWN_SETTINGS = [
    "SESSIONHUB_CLOSE_TIMEOUT",
    "SESSIONHUB_STARTUP_TIMEOUT",
    "SESSIONHUB_SHUTDOWN_TIMEOUT",
    "SESSIONHUB_DRAIN_SECONDS",
]
ACCESSORS = {
    "SESSIONHUB_CLOSE_TIMEOUT": (conf.close_timeout, conf.CLOSE_TIMEOUT),
    "SESSIONHUB_STARTUP_TIMEOUT": (conf.startup_timeout, conf.STARTUP_TIMEOUT),
    "SESSIONHUB_SHUTDOWN_TIMEOUT": (conf.shutdown_timeout, conf.SHUTDOWN_TIMEOUT),
    "SESSIONHUB_DRAIN_SECONDS": (conf.drain_seconds, conf.DRAIN_SECONDS),
}


@pytest.mark.parametrize("setting", SHUTDOWN_SETTINGS)
@pytest.mark.parametrize("value", [*HUGE, 3_601, -1, "5", None], ids=repr)
def test_bad_shutdown_settings_are_reported_and_fall_back_to_a_finite_default(
    setting: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    accessor, default = ACCESSORS[setting]
    with override_settings(**{setting: value}):
        assert ids(check_settings(None)) == ["sessionhub.E009"]
        assert [p[0] for p in conf.shutdown_problems()] == ["sessionhub.E009"]
        with caplog.at_level(logging.WARNING, logger="sessionhub"):
            assert (accessor(), accessor()) == (default, default)
    # Said once, with the setting's name, though read twice.
    (record,) = caplog.records
    assert record.getMessage().startswith(f"{setting} must be a number of seconds")
    assert "Using the default" in record.getMessage()


def test_good_shutdown_settings_are_used_and_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    values = dict.fromkeys(SHUTDOWN_SETTINGS, 2)
    with override_settings(**values), caplog.at_level(logging.WARNING, logger="sessionhub"):
        assert conf.shutdown_problems() == []
        assert [accessor() for accessor, _ in ACCESSORS.values()] == [2.0] * 4
    assert caplog.records == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://[::1/", "is not a valid URL"),
        ("http://api.example.com:99999/", "is not a valid URL"),
        ("http://:80/", "is not a valid URL"),
        ("http:///v1/", "has no host"),
        ("http://api.example.com:0/", "port out of range"),
        ("http://api.example.com/v1", 'must end with "/"'),
        ("api.internal/v2/", "must start with http:// or https://"),
        ("http://api.example.com /", "contains spaces or control characters"),
        (f"https://user:{SECRET}@api.example.com/", "must not contain a user name or password"),
        (f"https://api.example.com/?key={SECRET}", "must not have a query string"),
        (f"https://api.example.com/#{SECRET}", "must not have a query string or fragment"),
    ],
)
def test_base_url_is_parsed_safely_and_never_shown(url: str, fragment: str) -> None:
    setting = {"default": {"BASE_URL": url}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
        output = run_check()
    assert message.id == "sessionhub.E005"
    assert message.msg.startswith("SESSIONHUB['default']['BASE_URL'] ")
    assert fragment in message.msg
    assert "(sessionhub.E005)" in output
    error = build_error(setting)
    assert fragment in error
    assert url not in output + error
    assert SECRET not in output + error


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "https://API.example.com:8443/v1/", "http://[::1]:8080/"]
)
def test_good_base_urls_pass(url: str) -> None:
    with override_settings(SESSIONHUB={"default": {"BASE_URL": url}}):
        assert check_settings(None) == []


def test_a_factory_whose_module_fails_on_import_is_reported_not_raised() -> None:
    setting = {"default": {}, "api": {"FACTORY": "tests.raising_module.factory"}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
        output = run_check()
        with pytest.raises(ImproperlyConfigured, match=r"RuntimeError.*\(sessionhub\.E004\)"):
            options.client_config("api")
    assert message.id == "sessionhub.E004"
    assert "cannot be imported (RuntimeError: this module fails on import)" in message.msg
    assert "(sessionhub.E004)" in output


def test_an_import_error_that_cannot_be_shown_is_named_by_its_type() -> None:
    with override_settings(SESSIONHUB={"default": {"FACTORY": "tests.unprintable_module.f"}}):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E004"
    assert "cannot be imported (Unprintable)" in message.msg


async def test_the_httpx_factory_without_httpx_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What an environment without httpx looks like to the import system.
    monkeypatch.setitem(sys.modules, "httpx", None)
    search = {"FACTORY": "sessionhub.factories.httpx_client", "OPTIONS": {"http2": True}}
    with override_settings(SESSIONHUB={"default": {}, "search": search}):
        # Its OPTIONS are not judged: which keywords httpx takes is not known.
        (message,) = check_settings(None)
        with pytest.raises(ImproperlyConfigured) as info:
            sessionhub.get("search")
    assert message.id == "sessionhub.E004"
    assert "needs httpx, which is not installed" in message.msg
    assert message.hint is not None
    assert "pip install 'django-sessionhub[httpx]'" in message.hint
    assert "pip install 'django-sessionhub[httpx]'" in str(info.value)
    assert "(sessionhub.E004)" in str(info.value)


def test_a_factory_of_ones_own_missing_an_optional_dependency_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with override_settings(SESSIONHUB={"default": {"FACTORY": "httpx.AsyncClient"}}):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E004"
    assert "needs httpx" in message.msg


def test_an_empty_setting_is_reported() -> None:
    with override_settings(SESSIONHUB={}):
        (message,) = check_settings(None)
        output = run_check()
    assert message.id == "sessionhub.E006"
    assert "no 'default' client (it has none)" in message.msg
    assert "(sessionhub.E006)" in output


async def test_a_name_that_is_not_a_str_fails_check_get_and_lifespan_startup_alike() -> None:
    setting: dict[Any, Any] = {"default": {}, 5: {}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
        with pytest.raises(ImproperlyConfigured, match=r"\(sessionhub\.E001\)"):
            sessionhub.get()
        # Startup fails with the same message, not a TypeError from sorting.
        with pytest.raises(LifespanFailedError, match=r"ImproperlyConfigured: .*\.E001\)"):
            async with lifespan():
                pass
    assert message.id == "sessionhub.E001"
    assert "it has a name of type int" in message.msg


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-Api-Key": f"{SECRET}\r\nX-Injected: 1"}, "['X-Api-Key'] is not a valid HTTP header"),
        ({"X-Api-Key": f"{SECRET}\n"}, "['X-Api-Key'] is not a valid HTTP header value"),
        ({"X-Api-Key": f" {SECRET}"}, "['X-Api-Key'] is not a valid HTTP header value"),
        ({"X-Api-Key": f"{SECRET}\x00"}, "['X-Api-Key'] is not a valid HTTP header value"),
        ({"X-Api-Key": f"{SECRET}é"}, "['X-Api-Key'] is not a valid HTTP header value"),
        ({f"Bearer {SECRET}": "Authorization"}, "header name number 1 is not a valid HTTP"),
        ({"X-Ok": "1", "": "x"}, "header name number 2 is not a valid HTTP header name"),
    ],
)
def test_invalid_header_names_and_values_are_reported_without_the_value(
    headers: dict[str, str], fragment: str
) -> None:
    setting = {"default": {"HEADERS": headers}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
        output = run_check()
    assert message.id == "sessionhub.E010"
    assert fragment in message.msg
    error = build_error(setting)
    assert "(sessionhub.E010)" in output and "(sessionhub.E010)" in error
    assert SECRET not in output + error


def test_a_header_value_of_the_wrong_type_is_not_shown() -> None:
    setting = {"default": {"HEADERS": {"X-Api-Key": [SECRET]}}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E003"
    assert message.msg == "SESSIONHUB['default']['HEADERS']['X-Api-Key'] must be a str, not list."
    assert SECRET not in build_error(setting)


@pytest.mark.parametrize(
    "setting",
    [
        f"Bearer {SECRET}",
        {"default": f"Bearer {SECRET}"},
        {"default": {"HEADERS": [("Authorization", SECRET)]}},
        {"default": {"HEADERS": {5: SECRET}}},
        {"default": {"TIMEOUT": SECRET}},
        {"default": {"COOKIES": SECRET}},
        {"default": {"CA_BUNDLE": f"/nonexistent/{SECRET}.pem"}},
        {"default": {"ALLOWED_ORIGINS": [f"https://x.example/?k={SECRET}"]}},
        {"default": {"FACTORY": 5}},
        {"default": {"OPTIONS": {"header": {"Authorization": SECRET}}}},
    ],
)
def test_no_message_shows_a_value_that_may_be_a_secret(setting: Any) -> None:
    with override_settings(SESSIONHUB=setting):
        messages = check_settings(None)
        output = run_check()
    assert messages
    assert SECRET not in output
    assert all(SECRET not in f"{m.msg} {m.hint}" for m in messages)


def test_a_ca_bundle_that_is_not_pem_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate\n")
    setting = {"default": {"CA_BUNDLE": str(path)}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E007"
    assert "does not load as PEM certificates (SSLError)" in message.msg
    assert "(sessionhub.E007)" in build_error(setting)


def test_a_ca_bundle_of_pem_certificates_passes(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with override_settings(SESSIONHUB={"default": {"CA_BUNDLE": str(tmp_path / "ca.pem")}}):
        assert check_settings(None) == []


@pytest.mark.parametrize(
    ("origins", "check_id", "fragment"),
    [
        ("https://a.example", "sessionhub.E003", "must be a list of origins"),
        ([5], "sessionhub.E003", "['ALLOWED_ORIGINS'][0] must be a str, not int"),
        (["https://a.example/v1/"], "sessionhub.E011", "must be an origin"),
        (["a.example"], "sessionhub.E011", "must start with http:// or https://"),
        (["https://a.example", "https://u:p@b.example"], "sessionhub.E011", "[1] must not"),
    ],
)
def test_bad_allowed_origins_are_reported(origins: Any, check_id: str, fragment: str) -> None:
    setting = {"default": {"ALLOWED_ORIGINS": origins}}
    with override_settings(SESSIONHUB=setting):
        (message,) = check_settings(None)
    assert message.id == check_id
    assert fragment in message.msg
    assert f"({check_id})" in build_error(setting)


def test_good_allowed_origins_pass_and_reach_the_config() -> None:
    origins = ["*", "https://a.example", "http://10.0.0.5:8080", "http://[::1]:9000/"]
    with override_settings(SESSIONHUB={"default": {"ALLOWED_ORIGINS": origins}}):
        assert check_settings(None) == []
        assert options.client_config("default").allowed_origins == tuple(origins)


@pytest.mark.parametrize(
    ("factory", "keyword", "fragment"),
    [
        ("sessionhub.factories.httpx_client", "http3", "which httpx.AsyncClient does not take"),
        ("sessionhub.factories.aiohttp_session", "proxies", "Did you mean 'proxy'?"),
    ],
)
def test_options_are_checked_against_the_factory_s_client(
    factory: str, keyword: str, fragment: str
) -> None:
    options = {"FACTORY": factory, "OPTIONS": {keyword: True}}
    with override_settings(SESSIONHUB={"default": options}):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E008"
    assert message.msg.startswith(f"SESSIONHUB['default']['OPTIONS'] has {keyword!r}")
    assert fragment in message.msg + str(message.hint)
    assert "(sessionhub.E008)" in build_error({"default": options})


def test_an_unknown_option_that_is_not_a_str_is_named_by_its_type() -> None:
    with override_settings(SESSIONHUB={"default": {5: 1, "x" * 100: 2}}):
        first, second = check_settings(None)
    assert first.msg == "SESSIONHUB['default'] has an unknown option of type int."
    assert second.msg.endswith("...'.")  # a long name is cut short
    assert first.hint is not None and first.hint.startswith("The options are: BASE_URL,")


async def test_settings_are_validated_once_per_settings_object(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    setting = {"default": {"CA_BUNDLE": str(path)}}
    with override_settings(SESSIONHUB=setting):
        first = options.client_config("default")
        path.unlink()
        # Not validated again: the file is not looked for a second time.
        assert options.client_config("default") is first
    # override_settings sends setting_changed: the same setting is validated anew.
    with override_settings(SESSIONHUB=setting):
        assert "(sessionhub.E007)" in build_error(setting)


def test_a_change_to_another_setting_keeps_the_validated_settings() -> None:
    with override_settings(SESSIONHUB={"default": {"TIMEOUT": 3}}):
        first = options.client_config("default")
        with override_settings(USE_TZ=False):
            assert options.client_config("default") is first


async def test_a_config_built_from_settings_copies_its_dicts(upstream: Upstream) -> None:
    headers = {"X-Team": "a"}
    with override_settings(SESSIONHUB={"default": {"HEADERS": headers, "OPTIONS": {}}}):
        config = options.client_config("default")
        session: aiohttp.ClientSession = sessionhub.get()
    headers["X-Team"] = "b"
    assert config.headers == {"X-Team": "a"}
    assert (await fetch_json(session, upstream.url_for("/echo")))["headers"]["X-Team"] == "a"


def test_options_of_a_factory_that_is_not_a_str_are_checked_for_their_shape_only() -> None:
    with override_settings(SESSIONHUB={"default": {"FACTORY": 5, "OPTIONS": {"x": 1}}}):
        (message,) = check_settings(None)
    assert (
        message.msg
        == "SESSIONHUB['default']['FACTORY'] must be a dotted path (str) to a callable, not int."
    )


@pytest.mark.e2e
def test_a_gunicorn_worker_with_invalid_shutdown_settings_refuses_to_boot() -> None:
    # config/settings.py reads these from the environment as floats.
    env = server_env(SESSIONHUB_DRAIN_SECONDS="inf", SESSIONHUB_CLOSE_TIMEOUT="nan")
    command = [*gunicorn_command("--bind", "127.0.0.1:0"), "--workers", "1"]
    with running(command, ready=None, env=env) as server:
        wait_for_halt(server)
    assert "SESSIONHUB_DRAIN_SECONDS must be a number of seconds" in server.log
    assert "SESSIONHUB_CLOSE_TIMEOUT must be a number of seconds" in server.log


@pytest.mark.parametrize("name", list(HOSTILE))
def test_values_whose_methods_raise_are_reported_wherever_they_are(name: str) -> None:
    value = HOSTILE[name]()
    places: list[tuple[str, Any]] = [
        ("setting", value),
        ("client", {"default": value}),
        ("name", {"default": {}, value: {}} if name == "str" else {"default": {}}),
        *[(option, {"default": {option: value}}) for option in options.OPTIONS],
        ("header name", {"default": {"HEADERS": {value: "x"} if name == "str" else {}}}),
        ("header value", {"default": {"HEADERS": {"X-Api-Key": value}}}),
        ("origin", {"default": {"ALLOWED_ORIGINS": [value]}}),
    ]
    for place, setting in places:
        with override_settings(SESSIONHUB=setting):
            messages = check_settings(None)
            assert "sessionhub." in run_check() or not messages, place
            try:
                options.client_config("default")
            except ImproperlyConfigured as exc:
                # Refused with an id the check reported.
                assert {m.id for m in messages} & set(
                    re.findall(r"\((sessionhub\.E\d+)\)", str(exc))
                )
            except sessionhub.UnknownClientError:
                assert any(m.id == "sessionhub.E006" for m in messages), place


READ_FAILURES: dict[str, tuple[Callable[[], Any], str | None]] = {
    "setting": (lambda: RaisingMapping(), "SESSIONHUB cannot be read: it raised Hostile."),
    "client": (
        lambda: {"default": RaisingMapping()},
        "['default'] cannot be read: reading it raised Hostile.",
    ),
    "lying client": (
        lambda: {"default": LyingMapping()},
        "['default'] cannot be read: reading it raised Hostile.",
    ),
    # A float for all that: its own comparisons are never called.
    "timeout": (lambda: {"default": {"TIMEOUT": RaisingFloat(2.0)}}, None),
    "headers": (
        lambda: {"default": {"HEADERS": RaisingMapping()}},
        "['HEADERS'] cannot be read: using it raised Hostile.",
    ),
    "origins": (
        lambda: {"default": {"ALLOWED_ORIGINS": RaisingList(["*"])}},
        "['ALLOWED_ORIGINS'] cannot be read: using it raised Hostile.",
    ),
    "class": (
        lambda: {"default": {"TIMEOUT": RaisingClass()}},
        "['TIMEOUT'] cannot be read: using it raised",
    ),
}


@pytest.mark.parametrize("case", list(READ_FAILURES))
def test_what_cannot_be_read_is_named_by_its_place_and_the_exception_s_type(case: str) -> None:
    make, fragment = READ_FAILURES[case]
    setting = make()
    with override_settings(SESSIONHUB=setting):
        messages = check_settings(None)
    if fragment is None:
        assert messages == []
        with override_settings(SESSIONHUB=setting):
            assert options.client_config("default").timeout == 2.0
        return
    (message,) = messages
    assert fragment in message.msg
    assert message.id in {"sessionhub.E001", "sessionhub.E003"}


SHUTDOWN_VALUES = {"float": lambda: RaisingFloat(2.0), "int": lambda: RaisingInt(2)}


@pytest.mark.parametrize("name", ["float", "int", "class"])
def test_a_shutdown_setting_whose_methods_raise_is_reported_or_used_as_a_number(
    name: str,
) -> None:
    value = SHUTDOWN_VALUES.get(name, RaisingClass)()
    with override_settings(SESSIONHUB_CLOSE_TIMEOUT=value):
        found = conf.shutdown_problems()
        timeout = conf.close_timeout()
    if isinstance(value, RaisingClass):
        assert [p[0] for p in found] == ["sessionhub.E009"]
        assert "SESSIONHUB_CLOSE_TIMEOUT cannot be read (Hostile)." in found[0][1]
        assert timeout == conf.CLOSE_TIMEOUT
    else:
        assert (found, timeout) == ([], 2.0)
        assert type(timeout) is float


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        # aiohttp refuses these hosts on the first request; the check says so first.
        ("http://127.1/", "not a canonical IPv4 address"),
        ("http://0x7f.0.0.1:8000/", "not a canonical IPv4 address"),
        ("http://2130706433/", "not a canonical IPv4 address"),
        ("http://1.2.3.4.5/", "not a valid IPv4 address"),
        ("http://256.1.1.1/", "not a valid IPv4 address"),
        ("http://.example.com/", "host name that is not valid"),
        ("http://api..example.com/", "host name that is not valid"),
    ],
)
def test_base_url_hosts_are_read_as_the_client_reads_them(url: str, fragment: str) -> None:
    with override_settings(SESSIONHUB={"default": {"BASE_URL": url}}):
        (message,) = check_settings(None)
    assert message.id == "sessionhub.E005"
    assert fragment in message.msg


async def test_every_base_url_the_check_lets_through_reaches_its_host(
    upstream: Upstream,
) -> None:
    for host in ("127.0.0.1", "localhost", "LOCALHOST"):
        url = upstream.url_for("/echo/", host=host)
        for factory in ("aiohttp_session", "httpx_client"):
            options = {"BASE_URL": url, "FACTORY": f"sessionhub.factories.{factory}"}
            with override_settings(SESSIONHUB={"default": {}, factory: options}):
                assert check_settings(None) == []
                body = await fetch_json(sessionhub.get(factory), "x")
            assert body["path"] == "/echo/x"
