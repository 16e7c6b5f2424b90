"""Checks of single option values, shared by the system checks and client building.

Each check takes where the value sits (``SESSIONHUB['x']['TIMEOUT']``), the
value and the client's other options, and returns the problems it finds. No
check raises, whatever the value, and no message shows a value that may be a
secret (a header value, a URL with its password or query string).
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import inspect
import os
import re
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import yarl
from django.utils.module_loading import import_string

# One problem: (check id, message, hint).
Problem = tuple[str, str, str]
# (where, value, the client's options) -> problems.
Check = Callable[[str, Any, Mapping[Any, Any]], list[Problem]]

DEFAULT_FACTORY = "sessionhub.factories.aiohttp_session"
HTTPX_FACTORY = "sessionhub.factories.httpx_client"
COOKIE_MODES = ("none", "shared")
# Upper bounds: far beyond any sensible value, low enough that every timer
# and sum of them stays finite.
MAX_SECONDS = 86_400  # a day
MAX_SHUTDOWN_SECONDS = 3_600
MAX_CONNECTIONS = 1_000_000
# Optional dependencies, by top-level module, with the extra that installs them.
EXTRAS = {"httpx": "httpx"}
# Factories of ours that need an optional dependency.
NEEDS = {HTTPX_FACTORY: "httpx"}
# Keywords that an option sets, by factory.
OWNED_KEYWORDS = {
    DEFAULT_FACTORY: {
        "base_url": "BASE_URL",
        "headers": "HEADERS",
        "timeout": "TIMEOUT, CONNECT_TIMEOUT and READ_TIMEOUT",
        "raise_for_status": "RAISE_FOR_STATUS",
        "trust_env": "TRUST_ENV",
        "cookie_jar": "COOKIES",
        "connector": (
            "LIMIT, LIMIT_PER_HOST, KEEPALIVE_TIMEOUT, TTL_DNS_CACHE, VERIFY and CA_BUNDLE"
        ),
        "connector_owner": "nothing: sessionhub owns the connector",
        "loop": "nothing: the session uses the loop it is created in",
    },
    HTTPX_FACTORY: {
        "base_url": "BASE_URL",
        "headers": "HEADERS",
        "timeout": "TIMEOUT, CONNECT_TIMEOUT and READ_TIMEOUT",
        "limits": "LIMIT and KEEPALIVE_TIMEOUT",
        "verify": "VERIFY and CA_BUNDLE",
        "cookies": "COOKIES",
        "trust_env": "TRUST_ENV",
    },
}
# Keywords whose value sessionhub combines with its own: a list (aiohttp) or a
# dict of lists (httpx).
MERGED_KEYWORDS = {"middlewares": list, "trace_configs": list, "event_hooks": dict}
# RFC 9110 token: what a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A header value as both aiohttp and httpx (h11) send it: visible ASCII, with
# spaces and tabs inside but not at either end.
_FIELD_VALUE = re.compile(r"([!-~]([ \t!-~]*[!-~])?)?")


def type_name(value: object) -> str:
    """The type of ``value``, as messages show it instead of the value."""
    return type(value).__name__


def show_key(key: object) -> str:
    """An option name or client name for a message (never a secret, but maybe huge)."""
    if isinstance(key, str):
        return repr(key) if len(key) <= 60 else repr(key[:57] + "...")
    return f"of type {type_name(key)}"


def show_number(value: float) -> str:
    """A number for a message (never a secret, but an int may have thousands of digits)."""
    if isinstance(value, int) and abs(value) >= 10**15:
        return "a very large number"
    return repr(value)


def errors(found: list[Problem]) -> list[Problem]:
    """The errors among ``found`` (warnings build clients all the same)."""
    return [p for p in found if p[0].startswith("sessionhub.E")]


def as_text(found: list[Problem]) -> str:
    """Problems as one message, each with its check id."""
    return " ".join(f"{message} {hint} ({check_id})" for check_id, message, hint in found)


def _wrong_type(where: str, expected: str, value: object) -> list[Problem]:
    return [
        (
            "sessionhub.E003",
            f"{where} must be {expected}, not {type_name(value)}.",
            f"See the README's settings reference for {_option_name(where)}.",
        )
    ]


def _out_of_range(where: str, why: str) -> list[Problem]:
    return [
        (
            "sessionhub.E007",
            f"{where} {why}.",
            f"See the README's settings reference for {_option_name(where)}.",
        )
    ]


def _option_name(where: str) -> str:
    found = re.match(r"SESSIONHUB\[.*?\]\['([A-Z_]+)'\]", where)
    return found.group(1) if found else "it"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def seconds(*, none: bool) -> Check:
    """A number of seconds greater than 0 and at most a day (or None if ``none``)."""
    expected = "a number of seconds or None" if none else "a number of seconds"

    def check(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
        if value is None and none:
            return []
        if not _is_number(value):
            return _wrong_type(where, expected, value)
        # Written so that NaN fails too.
        if not 0 < value <= MAX_SECONDS:
            return _out_of_range(
                where,
                f"must be greater than 0 and at most {MAX_SECONDS} (a day), "
                f"not {show_number(value)}" + (" (None means no limit)" if none else ""),
            )
        return []

    return check


def count(meaning: str, *, none: bool = False) -> Check:
    """A whole number from 0 to ``MAX_CONNECTIONS`` (or None if ``none``)."""
    expected = "an int or None" if none else "an int"

    def check(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
        if value is None and none:
            return []
        if not isinstance(value, int) or isinstance(value, bool):
            return _wrong_type(where, expected, value)
        if not 0 <= value <= MAX_CONNECTIONS:
            return _out_of_range(
                where,
                f"must be from 0 to {MAX_CONNECTIONS} ({meaning}), not {show_number(value)}",
            )
        return []

    return check


def flag(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """A bool."""
    return [] if isinstance(value, bool) else _wrong_type(where, "a bool", value)


def cookies(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """One of ``COOKIE_MODES``."""
    if not isinstance(value, str):
        return _wrong_type(where, '"none" or "shared"', value)
    if value not in COOKIE_MODES:
        return _out_of_range(where, 'must be "none" or "shared"')
    return []


def ca_bundle(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """None, or the path of a file of PEM certificates that loads."""
    if value is None:
        return []
    if not isinstance(value, str):
        return _wrong_type(where, "a str (a file path) or None", value)
    if not os.path.isfile(value):
        return _out_of_range(where, "must name a file of PEM certificates that exists")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=value)
    except Exception as exc:
        return _out_of_range(
            where, f"names a file that does not load as PEM certificates ({type_name(exc)})"
        )
    return []


def base_url(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """None, or an absolute http(s) URL with a host, ending in ``/``."""
    if value is None:
        return []
    if not isinstance(value, str):
        return _wrong_type(where, "a str or None", value)
    why = url_problem(value, origin_only=False)
    if why is None:
        return []
    return [
        (
            "sessionhub.E005",
            f"{where} {why}.",
            'Give an absolute http:// or https:// URL ending in "/", e.g. '
            '"https://api.example.com/v1/"; send credentials in HEADERS.',
        )
    ]


def url_problem(value: str, *, origin_only: bool) -> str | None:
    """What is wrong with ``value`` as a BASE_URL (or an origin), without showing it."""
    if any(char.isspace() or not char.isprintable() for char in value):
        return "contains spaces or control characters"
    try:
        parts = yarl.URL(value)
        port = parts.port
    except Exception:
        return "is not a valid URL (it has no host, or a host or port that cannot be read)"
    if parts.scheme not in {"http", "https"}:
        return "must start with http:// or https://"
    if not parts.raw_host:
        return "has no host"
    if port is None or not 0 < port < 65536:
        return "has a port out of range (1 to 65535)"
    if parts.raw_user is not None or parts.raw_password is not None:
        return "must not contain a user name or password"
    if parts.raw_query_string or parts.raw_fragment or "?" in value or "#" in value:
        return "must not have a query string or fragment"
    if origin_only and parts.raw_path not in {"", "/"}:
        return "must be an origin (scheme://host[:port]), without a path"
    if not parts.raw_path.endswith("/"):
        return 'must end with "/" (request paths are joined to it)'
    return None


def origin(value: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL or origin that ``url_problem`` accepts."""
    parts = yarl.URL(value)
    assert parts.raw_host is not None and parts.port is not None
    return parts.scheme, parts.raw_host.lower(), parts.port


def headers(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """A dict of valid header names to valid header values."""
    if not isinstance(value, Mapping):
        return _wrong_type(where, "a dict of header names to str values", value)
    found: list[Problem] = []
    for number, (name, text) in enumerate(value.items(), 1):
        if not isinstance(name, str):
            found += _wrong_type(f"{where}'s header name number {number}", "a str", name)
        elif not _TOKEN.fullmatch(name):
            # Not shown: a name that is not a name may well be a value.
            found.append(
                (
                    "sessionhub.E010",
                    f"{where}'s header name number {number} is not a valid HTTP header name.",
                    "A name is letters, digits and !#$%&'*+-.^_`|~, with no spaces or colons.",
                )
            )
        elif not isinstance(text, str):
            found += _wrong_type(f"{where}[{name!r}]", "a str", text)
        elif not _FIELD_VALUE.fullmatch(text):
            found.append(
                (
                    "sessionhub.E010",
                    f"{where}[{name!r}] is not a valid HTTP header value.",
                    "A value is printable ASCII: no line breaks or other control characters, "
                    "no spaces at either end.",
                )
            )
    return found


def allowed_origins(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """A list of origins (``scheme://host[:port]``), or ``["*"]`` for any."""
    if not isinstance(value, list | tuple):
        return _wrong_type(where, 'a list of origins such as "https://api.example.com"', value)
    found: list[Problem] = []
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            found += _wrong_type(f"{where}[{index}]", "a str", entry)
        elif entry != "*" and (why := url_problem(entry, origin_only=True)) is not None:
            found.append(
                (
                    "sessionhub.E011",
                    f"{where}[{index}] {why}.",
                    'Give origins as "https://api.example.com" or "http://10.0.0.5:8080", '
                    'or "*" for any origin.',
                )
            )
    return found


def keywords(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """A dict of keyword arguments for the factory's client."""
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        return _wrong_type(where, "a dict of keyword arguments (str keys)", value)
    factory_path = options.get("FACTORY", DEFAULT_FACTORY)
    if not isinstance(factory_path, str):
        factory_path = ""  # reported by the FACTORY check
    owned = OWNED_KEYWORDS.get(factory_path, {})
    known = _known_keywords(factory_path) if factory_path in OWNED_KEYWORDS else None
    found: list[Problem] = []
    for key, given in value.items():
        if key in owned:
            found.append(
                (
                    "sessionhub.E008",
                    f"{where} sets {show_key(key)}, which sessionhub sets itself.",
                    f"Use {owned[key]} instead.",
                )
            )
        elif key in MERGED_KEYWORDS and not isinstance(given, MERGED_KEYWORDS[key]):
            found.append(
                (
                    "sessionhub.E008",
                    f"{where}[{show_key(key)}] must be a {MERGED_KEYWORDS[key].__name__}.",
                    "sessionhub adds its own to what you give.",
                )
            )
        elif known is not None and key not in known[1]:
            close = difflib.get_close_matches(key, sorted(known[1]), n=1)
            found.append(
                (
                    "sessionhub.E008",
                    f"{where} has {show_key(key)}, which {known[0]} does not take.",
                    (f"Did you mean {close[0]!r}? " if close else "")
                    + f"See {known[0]}'s keyword arguments.",
                )
            )
    return found


def _known_keywords(factory_path: str) -> tuple[str, frozenset[str]] | None:
    """The client class that a factory of ours builds, and the keywords it takes."""
    if factory_path == DEFAULT_FACTORY:
        return "aiohttp.ClientSession", _parameters(aiohttp.ClientSession)
    if importlib.util.find_spec("httpx") is None:
        return None  # E004 says httpx is missing
    import httpx

    return "httpx.AsyncClient", _parameters(httpx.AsyncClient)


@functools.cache
def _parameters(client: type) -> frozenset[str]:
    return frozenset(inspect.signature(client).parameters)


def factory(where: str, value: Any, options: Mapping[Any, Any]) -> list[Problem]:
    """The dotted path of a callable that imports, its optional dependency installed."""
    if not isinstance(value, str):
        return _wrong_type(where, "a dotted path (str) to a callable", value)
    needed = NEEDS.get(value)
    if needed is not None and importlib.util.find_spec(needed) is None:
        return [_missing(where, value, needed)]
    try:
        found = import_string(value)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top in EXTRAS:
            return [_missing(where, value, top)]
        return [_not_importable(where, value, exc)]
    except Exception as exc:
        return [_not_importable(where, value, exc)]
    if not callable(found):
        return [
            (
                "sessionhub.E004",
                f"{where} {show_key(value)} is not callable.",
                "Give the dotted path of a callable that takes a sessionhub.conf.ClientConfig.",
            )
        ]
    return []


def _missing(where: str, path: str, module: str) -> Problem:
    return (
        "sessionhub.E004",
        f"{where} {show_key(path)} needs {module}, which is not installed.",
        f"Install it with the {EXTRAS[module]!r} extra: "
        f"pip install 'django-sessionhub[{EXTRAS[module]}]'.",
    )


def _not_importable(where: str, path: str, exc: Exception) -> Problem:
    try:
        text = f"{type_name(exc)}: {exc}"
    except Exception:
        text = type_name(exc)
    return (
        "sessionhub.E004",
        f"{where} {show_key(path)} cannot be imported ({text}).",
        "Give the dotted path of a callable that takes a sessionhub.conf.ClientConfig, "
        "e.g. 'sessionhub.factories.httpx_client'.",
    )


def combination_problems(where: str, options: Mapping[Any, Any]) -> list[Problem]:
    """Warnings about options that are each valid but do not go together."""
    found: list[Problem] = []
    given, allowed = options.get("HEADERS"), options.get("ALLOWED_ORIGINS")
    # Only valid headers: the truth of an arbitrary value may raise, and
    # headers already reported need no second message.
    has_headers = isinstance(given, Mapping) and len(given) > 0 and not headers("", given, {})
    no_origins = allowed is None or (isinstance(allowed, list | tuple) and not allowed)
    if has_headers and options.get("BASE_URL") is None and no_origins:
        found.append(
            (
                "sessionhub.W006",
                f"{where} sends its HEADERS to any origin the code calls: it has neither "
                "BASE_URL nor ALLOWED_ORIGINS.",
                "Set BASE_URL, or ALLOWED_ORIGINS to the origins these headers are for "
                '(["*"] if they may go anywhere).',
            )
        )
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


def setting(raw: object, *, configured: bool) -> list[Problem]:
    """Problems of ``SESSIONHUB`` as a whole (not of one client's options)."""
    if not configured:
        return []
    if not isinstance(raw, Mapping):
        return [
            (
                "sessionhub.E001",
                f"SESSIONHUB must be a dict of client names to dicts of options, "
                f"not {type_name(raw)}.",
                'For example: SESSIONHUB = {"default": {"TIMEOUT": 10}}.',
            )
        ]
    odd = [name for name in raw if not isinstance(name, str)]
    if odd:
        return [
            (
                "sessionhub.E001",
                f"SESSIONHUB's client names must be str; it has a name {show_key(odd[0])}.",
                'For example: SESSIONHUB = {"default": {}, "payments": {...}}.',
            )
        ]
    if "default" not in raw:
        names = ", ".join(show_key(name) for name in sorted(raw)) or "none"
        return [
            (
                "sessionhub.E006",
                f"SESSIONHUB has no 'default' client (it has {names}).",
                'sessionhub.get() with no name asks for "default"; add SESSIONHUB["default"] '
                '(it may be empty: {"default": {}}).',
            )
        ]
    return []


def shutdown_seconds(setting: str, value: object, default: float, zero: bool) -> list[Problem]:
    """Problems of one ``SESSIONHUB_*`` shutdown setting (``sessionhub.E009``)."""
    low = "0 or more" if zero else "greater than 0"
    if _is_number(value):
        assert isinstance(value, int | float)
        # Written so that NaN fails too.
        if (value >= 0 if zero else value > 0) and value <= MAX_SHUTDOWN_SECONDS:
            return []
        shown = f"not {show_number(value)}"
    else:
        shown = f"not {type_name(value)}"
    return [
        (
            "sessionhub.E009",
            f"{setting} must be a number of seconds {low} and at most "
            f"{MAX_SHUTDOWN_SECONDS}, {shown}.",
            f"The default is {default:g}; see the README's Running in production.",
        )
    ]
