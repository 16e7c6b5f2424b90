"""The ``SESSIONHUB`` setting: named clients, their options and defaults.

Settings are read when they are needed (a client is built, ``check`` runs), so
``override_settings`` in a test applies to every client built after it.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = ["ClientConfig", "client_config", "client_names", "problems"]

DEFAULT_FACTORY = "sessionhub.factories.aiohttp_session"
COOKIE_MODES = ("none", "shared")


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The options of one named client, with defaults filled in.

    This is what a ``FACTORY`` receives; the attributes are the options in
    lower case.
    """

    name: str
    base_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = 10.0
    connect_timeout: float | None = 3.0
    read_timeout: float | None = None
    limit: int = 100
    limit_per_host: int = 50
    keepalive_timeout: float = 15.0
    ttl_dns_cache: int | None = 10
    verify: bool = True
    ca_bundle: str | None = None
    raise_for_status: bool = False
    trust_env: bool = False
    cookies: Literal["none", "shared"] = "none"
    options: Mapping[str, Any] = field(default_factory=dict)
    factory: str = DEFAULT_FACTORY


# One problem found in the setting: (check id, message, hint). Shared by the
# system checks and by the errors raised when a client is built.
Problem = tuple[str, str, str]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _or_none(test: _Check) -> _Check:
    return lambda value: value is None or test(value)


def _str_map(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _str_keys(value: object) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)


def _any(value: object) -> bool:
    return True


def _positive(value: Any) -> bool:
    return bool(value > 0)


def _not_negative(value: Any) -> bool:
    return bool(value >= 0)


_Check = Callable[[Any], bool]
_SECONDS = "a number of seconds or None"
# Option name -> (what the value must be, test of its type, test of its value).
# A failed type test is sessionhub.E003, a failed value test E007.
_OPTIONS: dict[str, tuple[str, _Check, _Check]] = {
    "BASE_URL": ("a str or None", _or_none(lambda v: isinstance(v, str)), _any),
    "HEADERS": ("a dict of str to str", _str_map, _any),
    "TIMEOUT": (_SECONDS, _or_none(_number), _or_none(_positive)),
    "CONNECT_TIMEOUT": (_SECONDS, _or_none(_number), _or_none(_positive)),
    "READ_TIMEOUT": (_SECONDS, _or_none(_number), _or_none(_positive)),
    "LIMIT": ("an int", _integer, _not_negative),
    "LIMIT_PER_HOST": ("an int", _integer, _not_negative),
    "KEEPALIVE_TIMEOUT": ("a number of seconds", _number, _positive),
    "TTL_DNS_CACHE": ("an int of seconds or None", _or_none(_integer), _or_none(_not_negative)),
    "VERIFY": ("a bool", lambda v: isinstance(v, bool), _any),
    "CA_BUNDLE": ("a str (a file path) or None", _or_none(lambda v: isinstance(v, str)),
                  _or_none(os.path.isfile)),
    "RAISE_FOR_STATUS": ("a bool", lambda v: isinstance(v, bool), _any),
    "TRUST_ENV": ("a bool", lambda v: isinstance(v, bool), _any),
    "COOKIES": ('"none" or "shared"', lambda v: isinstance(v, str), lambda v: v in COOKIE_MODES),
    "OPTIONS": ("a dict of keyword arguments", _str_keys, _any),
    "FACTORY": ("a dotted path (str) to a callable", lambda v: isinstance(v, str), _any),
}  # fmt: skip

# ClientSession keywords that an option sets, or that cannot come from settings.
_OWNED_KEYWORDS = {
    "base_url": "BASE_URL",
    "headers": "HEADERS",
    "timeout": "TIMEOUT, CONNECT_TIMEOUT and READ_TIMEOUT",
    "raise_for_status": "RAISE_FOR_STATUS",
    "trust_env": "TRUST_ENV",
    "cookie_jar": "COOKIES",
    "connector": "LIMIT, LIMIT_PER_HOST, KEEPALIVE_TIMEOUT, TTL_DNS_CACHE, VERIFY and CA_BUNDLE",
    "connector_owner": "nothing: sessionhub owns the connector",
    "loop": "nothing: the session uses the loop it is created in",
}


CLOSE_TIMEOUT = 5.0
# Seconds lifespan_started receivers (and registered lifespans) may take: the
# same as gunicorn's default worker timeout, the bound an operator already
# expects for a worker that hangs while it boots.
STARTUP_TIMEOUT = 30.0
# Seconds lifespan_finished receivers may take, as long as closing may. With
# gunicorn's default graceful_timeout (30 s) that leaves 19 s for requests in
# flight, more than the default client TIMEOUT (10 s), so a request in flight
# can still finish its upstream call.
SHUTDOWN_TIMEOUT = 5.0


def close_timeout() -> float:
    """``SESSIONHUB_CLOSE_TIMEOUT``: seconds closing a loop's clients may take.

    A wrong value (reported by ``sessionhub.E009``) counts as the default, so
    that clients still get closed.
    """
    value = getattr(settings, "SESSIONHUB_CLOSE_TIMEOUT", CLOSE_TIMEOUT)
    return float(value) if _number(value) and value > 0 else CLOSE_TIMEOUT


def startup_timeout() -> float:
    """``SESSIONHUB_STARTUP_TIMEOUT``: seconds the lifespan startup may take (``E009``)."""
    value = getattr(settings, "SESSIONHUB_STARTUP_TIMEOUT", STARTUP_TIMEOUT)
    return float(value) if _number(value) and value > 0 else STARTUP_TIMEOUT


def shutdown_timeout() -> float:
    """``SESSIONHUB_SHUTDOWN_TIMEOUT``: seconds ``lifespan_finished`` receivers may take
    before they are cancelled and the clients closed anyway (``sessionhub.E009``)."""
    value = getattr(settings, "SESSIONHUB_SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT)
    return float(value) if _number(value) and value > 0 else SHUTDOWN_TIMEOUT


def drain_seconds() -> float:
    """``SESSIONHUB_DRAIN_SECONDS``: how long sessionhub's gunicorn worker keeps serving
    after SIGTERM, answering 503 on the health view (``sessionhub.E009``)."""
    value = getattr(settings, "SESSIONHUB_DRAIN_SECONDS", 0)
    return float(value) if _number(value) and value >= 0 else 0.0


def _raw_setting() -> object:
    return getattr(settings, "SESSIONHUB", None)


def client_names() -> list[str]:
    """The configured client names (``["default"]`` without a ``SESSIONHUB`` setting)."""
    raw = _raw_setting()
    if raw is None:
        return ["default"]
    if not isinstance(raw, Mapping):
        return []
    return sorted(raw)


def client_config(name: str) -> ClientConfig:
    """The options of client ``name``; raise ``ImproperlyConfigured`` if they are wrong.

    Raises ``KeyError`` (with a message naming the configured clients) for an
    unknown name.
    """
    raw = _raw_setting()
    if raw is None:
        raw = {"default": {}}
    errors = [p for p in _setting_problems(raw) if p[0] == "sessionhub.E001"]
    if errors:
        raise ImproperlyConfigured(_as_text(errors))
    assert isinstance(raw, Mapping)
    if name not in raw:
        raise KeyError(name)
    options = raw[name]
    errors = [p for p in _client_problems(name, options) if p[0].startswith("sessionhub.E")]
    if errors:
        raise ImproperlyConfigured(_as_text(errors))
    return ClientConfig(name=name, **{key.lower(): value for key, value in options.items()})


def problems() -> list[Problem]:
    """Everything wrong with the ``SESSIONHUB`` settings, for the system checks."""
    return _shutdown_problems() + _clients_problems()


def _shutdown_problems() -> list[Problem]:
    found: list[Problem] = []
    for name, default, low in (
        ("SESSIONHUB_CLOSE_TIMEOUT", CLOSE_TIMEOUT, "greater than 0"),
        ("SESSIONHUB_STARTUP_TIMEOUT", STARTUP_TIMEOUT, "greater than 0"),
        ("SESSIONHUB_SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT, "greater than 0"),
        ("SESSIONHUB_DRAIN_SECONDS", 0, "0 or more"),
    ):
        value = getattr(settings, name, default)
        if not _number(value) or value < 0 or (value == 0 and low == "greater than 0"):
            found.append(
                (
                    "sessionhub.E009",
                    f"{name} must be a number of seconds {low}, not {value!r}.",
                    f"The default is {default}; see the README's Running in production.",
                )
            )
    return found


def _clients_problems() -> list[Problem]:
    raw = _raw_setting()
    if raw is None:
        return []
    found = _setting_problems(raw)
    if found or not isinstance(raw, Mapping):
        return found
    for name, options in raw.items():
        found += _client_problems(name, options)
    return found


def _setting_problems(raw: object) -> list[Problem]:
    if not isinstance(raw, Mapping) or not all(isinstance(name, str) for name in raw):
        return [
            (
                "sessionhub.E001",
                f"SESSIONHUB must be a dict of client names to dicts of options, not {raw!r}.",
                'For example: SESSIONHUB = {"default": {"TIMEOUT": 10}}.',
            )
        ]
    if raw and "default" not in raw:
        return [
            (
                "sessionhub.E006",
                f"SESSIONHUB has no 'default' client (it has {_names(raw)}).",
                'sessionhub.get() with no name asks for "default"; add SESSIONHUB["default"] '
                '(it may be empty: {"default": {}}).',
            )
        ]
    return []


def _client_problems(name: str, options: object) -> list[Problem]:
    where = f"SESSIONHUB[{name!r}]"
    if not isinstance(options, Mapping):
        return [
            (
                "sessionhub.E001",
                f"{where} must be a dict of options, not {options!r}.",
                'Use {} for the defaults, or e.g. {"BASE_URL": "https://api.example.com/"}.',
            )
        ]
    found: list[Problem] = []
    for key, value in options.items():
        if key not in _OPTIONS:
            close = difflib.get_close_matches(str(key).upper(), _OPTIONS, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            found.append(
                (
                    "sessionhub.E002",
                    f"{where} has an unknown option {key!r}.",
                    f"{hint}The options are: {', '.join(_OPTIONS)}.",
                )
            )
            continue
        expected, type_ok, value_ok = _OPTIONS[key]
        if not type_ok(value):
            found.append(
                (
                    "sessionhub.E003",
                    f"{where}[{key!r}] must be {expected}, not {type(value).__name__} {value!r}.",
                    f"See the README's settings reference for {key}.",
                )
            )
        elif not value_ok(value):
            found.append(_bad_value(where, key, value))
        elif key == "BASE_URL" and value is not None:
            found += _base_url_problems(where, value)
        elif key == "FACTORY":
            found += _factory_problems(where, value)
        elif key == "OPTIONS":
            found += _keyword_problems(where, value, options.get("FACTORY", DEFAULT_FACTORY))
    if options.get("VERIFY") is False:
        found.append(
            (
                "sessionhub.W002",
                f"{where} turns TLS certificate verification off (VERIFY=False).",
                "Anyone on the network path can then read and change this client's traffic. "
                "To trust a private CA, set CA_BUNDLE instead.",
            )
        )
        if options.get("CA_BUNDLE") is not None:
            found.append(
                (
                    "sessionhub.W003",
                    f"{where} sets CA_BUNDLE, which VERIFY=False makes unused.",
                    "Remove one of the two.",
                )
            )
    return found


def _bad_value(where: str, key: str, value: object) -> Problem:
    if key == "COOKIES":
        why = f"must be one of {', '.join(map(repr, COOKIE_MODES))}"
    elif key == "CA_BUNDLE":
        why = "must name a file of PEM certificates that exists"
    elif key == "TTL_DNS_CACHE":
        why = "must not be negative (0 turns the DNS cache off, None caches for ever)"
    elif key in {"LIMIT", "LIMIT_PER_HOST"}:
        why = "must not be negative (0 means no limit)"
    else:
        why = "must be greater than 0 (None for no limit)"
    return (
        "sessionhub.E007",
        f"{where}[{key!r}] {why}, not {value!r}.",
        f"See the README's settings reference for {key}.",
    )


def _base_url_problems(where: str, url: str) -> list[Problem]:
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return []
    return [
        (
            "sessionhub.E005",
            f"{where}['BASE_URL'] must be an absolute http:// or https:// URL, not {url!r}.",
            'For example "https://api.example.com/v1/".',
        )
    ]


def _factory_problems(where: str, path: str) -> list[Problem]:
    try:
        factory = import_string(path)
    except ImportError as exc:
        return [
            (
                "sessionhub.E004",
                f"{where}['FACTORY'] {path!r} cannot be imported: {exc}",
                "Give the dotted path of a callable that takes a sessionhub.conf.ClientConfig, "
                "e.g. 'sessionhub.factories.httpx_client'.",
            )
        ]
    if not callable(factory):
        return [
            (
                "sessionhub.E004",
                f"{where}['FACTORY'] {path!r} is not callable.",
                "Give the dotted path of a callable that takes a sessionhub.conf.ClientConfig.",
            )
        ]
    return []


def _keyword_problems(where: str, keywords: Mapping[str, Any], factory: object) -> list[Problem]:
    found: list[Problem] = []
    # Only aiohttp's keywords are known here; a FACTORY of your own takes its own.
    known = (
        set(inspect.signature(aiohttp.ClientSession).parameters)
        if factory == DEFAULT_FACTORY
        else None
    )
    for key in keywords:
        if key in _OWNED_KEYWORDS:
            found.append(
                (
                    "sessionhub.E008",
                    f"{where}['OPTIONS'] sets {key!r}, which sessionhub sets itself.",
                    f"Use {_OWNED_KEYWORDS[key]} instead.",
                )
            )
        elif known is not None and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            found.append(
                (
                    "sessionhub.E008",
                    f"{where}['OPTIONS'] has {key!r}, which aiohttp.ClientSession does not take.",
                    f"{hint}See aiohttp.ClientSession's keyword arguments.",
                )
            )
    return found


def _names(raw: Mapping[str, object]) -> str:
    return ", ".join(map(repr, sorted(raw))) or "none"


def _as_text(found: list[Problem]) -> str:
    return " ".join(
        f"{message} {hint}".strip() + f" ({check_id})" for check_id, message, hint in found
    )


def health_details() -> bool:
    """``SESSIONHUB_HEALTH_DETAILS``: whether the health view adds the pid and ``stats()``.

    Off by default: the view is often reachable by anyone. Only ``True`` turns it on.
    """
    return getattr(settings, "SESSIONHUB_HEALTH_DETAILS", False) is True
