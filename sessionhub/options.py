"""``SESSIONHUB``: the named clients, each a ``ClientConfig`` read from its options.

Each option is a field of ``ClientConfig`` whose metadata holds its rule, so
the table of options, the checks and the errors at build time come from one
place. The setting is checked once per settings object, and again after
Django's ``setting_changed`` names it.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sessionhub import addresses
from sessionhub import validation as v
from sessionhub.errors import UnknownClientError, anchor, docs_url, hint_for, see
from sessionhub.validation import Invalid, Problem


def _option(default: Any, clean: v.Clean) -> Any:
    """A ``ClientConfig`` field that is an option, its value made by ``clean``."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"clean": clean})
    return field(default=default, metadata={"clean": clean})


def _base_url(value: Any) -> str | None:
    """None, or an absolute http(s) URL with a host, ending in ``/``."""
    if value is None:
        return None
    url = v.plain_str(value, "a str or None")
    why = addresses.url_problem(url, origin_only=False)
    if why is not None:
        hint = 'Give an absolute http(s) URL ending in "/", e.g. "https://api.example.com/v1/"'
        raise Invalid("sessionhub.E005", f" {why}", f"{hint}; send credentials in HEADERS.")
    return url


def _allowed_origins(value: Any) -> tuple[str, ...]:
    """A list of origins (``scheme://host[:port]``), or ``["*"]`` for any."""
    if not isinstance(value, list | tuple):
        raise v.wrong_type('a list of origins such as "https://api.example.com"', value)
    found = []
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise v.wrong_type("a str", entry, f"[{index}]")
        entry = str.__str__(entry)
        if entry != "*" and (why := addresses.url_problem(entry, origin_only=True)) is not None:
            hint = 'Give origins as "https://api.example.com" or "http://10.0.0.5:8080"'
            raise Invalid("sessionhub.E011", f"[{index}] {why}", f'{hint}, or "*" for any.')
        found.append(entry)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The options of one named client, with defaults filled in.

    This is what a ``FACTORY`` receives; the attributes are the options in
    lower case.
    """

    name: str
    #: Relative request URLs are joined to it; the client then sends only to its origin.
    base_url: str | None = _option(None, _base_url)
    #: Headers sent with every request (API keys, User-Agent), only where the client may send.
    headers: Mapping[str, str] = _option({}, v.headers)
    #: Seconds a request may take in all, from asking for a connection to the end of the body.
    timeout: float | None = _option(10.0, v.seconds(none=True))
    #: Seconds to open a new connection to the upstream, TLS handshake included.
    connect_timeout: float | None = _option(3.0, v.seconds(none=True))
    #: Seconds to wait for the next bytes from the upstream.
    read_timeout: float | None = _option(None, v.seconds(none=True))
    #: Connections the client keeps open at once, over all hosts, in one worker.
    limit: int = _option(100, v.count("0 means no limit"))
    #: Connections to one host (scheme, host, port) at once; more requests wait.
    limit_per_host: int = _option(50, v.count("0 means no limit"))
    #: Seconds an idle connection stays in the pool.
    keepalive_timeout: float = _option(15.0, v.seconds())
    #: Seconds resolved addresses are cached (None: for ever).
    ttl_dns_cache: int | None = _option(10, v.count("0 turns the DNS cache off", none=True))
    #: Verify the upstream's TLS certificate.
    verify: bool = _option(True, v.flag)
    #: A PEM file of CA certificates to verify upstreams with, instead of the system's.
    ca_bundle: str | None = _option(None, v.ca_bundle)
    #: Raise for every response with a 4xx or 5xx status.
    raise_for_status: bool = _option(False, v.flag)
    #: Read HTTP_PROXY, HTTPS_PROXY, NO_PROXY and .netrc from the environment.
    trust_env: bool = _option(False, v.flag)
    #: "none": no cookie jar; "shared": one jar per client and worker, for every user.
    cookies: Literal["none", "shared"] = _option("none", v.cookies)
    #: Other keyword arguments of the FACTORY's client (aiohttp.ClientSession by default).
    options: Mapping[str, Any] = _option({}, v.keywords)
    #: Dotted path of the callable that builds the client from this ClientConfig.
    factory: str = _option(v.DEFAULT_FACTORY, v.factory)
    # Last, so that the fields before it keep their positions.
    #: Origins besides BASE_URL's that the client may send requests to (["*"]: any).
    allowed_origins: tuple[str, ...] = _option((), _allowed_origins)


# Option name (upper case, as in the setting) -> its ClientConfig field.
OPTIONS: dict[str, Field[Any]] = {f.name.upper(): f for f in fields(ClientConfig) if f.metadata}


def read(name: str, options: object) -> tuple[ClientConfig | None, list[Problem]]:
    """Client ``name``'s config (None if it has errors) and its problems."""
    where = f"SESSIONHUB[{v.shown(name)}]"
    hint = 'Use {} for the defaults, or e.g. {"BASE_URL": "https://api.example.com/"}.'
    try:
        if not isinstance(options, Mapping):
            text = f" must be a dict of options, not {v.kind(options)}"
            return None, [("sessionhub.E001", f"{where}{text}.", hint)]
        items = [
            (str.__str__(k) if isinstance(k, str) else k, value) for k, value in options.items()
        ]
    except Exception as exc:
        text = f" cannot be read: reading it raised {v.kind(exc)}"
        return None, [("sessionhub.E001", f"{where}{text}.", hint)]
    values: dict[str, Any] = {}
    found: list[Problem] = []
    for key, value in items:
        option = OPTIONS.get(key) if type(key) is str else None
        if option is None:
            found.append(_unknown_option(where, key))
            continue
        at, docs = f"{where}[{v.shown(key)}]", docs_url("reference/settings", anchor(option.name))
        try:
            values[option.name] = option.metadata["clean"](value)
        except Invalid as exc:
            found.append(exc.problem(at, docs))
        except Exception as exc:
            text = f" cannot be read: using it raised {v.kind(exc)}"
            found.append(Invalid("sessionhub.E003", text).problem(at, docs))
    if not any(p[0].startswith("sessionhub.E") for p in found):
        config = ClientConfig(name=name, **values)
        found += v.together(where, config)
    if any(p[0].startswith("sessionhub.E") for p in found):
        return None, found
    return config, found


def _unknown_option(where: str, key: object) -> Problem:
    close = difflib.get_close_matches(key.upper(), OPTIONS, n=1) if type(key) is str else []
    hint = f"Did you mean {close[0]!r}? " if close else ""
    shown = v.shown(key) if type(key) is str else f"of type {v.kind(key)}"
    return (
        "sessionhub.E002",
        f"{where} has an unknown option {shown}.",
        f"{hint}The options are: {', '.join(OPTIONS)}.",
    )


class _Clients:
    """``SESSIONHUB``, checked: built once per settings object."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # Name -> its config, or the errors that keep it from being built.
        self.configs: dict[str, ClientConfig | list[Problem]] = {}
        self.names_problem: Problem | None = None
        try:
            clients = _clients(getattr(settings, "SESSIONHUB", None))
        except Exception as exc:
            if not isinstance(exc, Invalid):
                exc = Invalid("sessionhub.E001", f" cannot be read: it raised {v.kind(exc)}")
            docs = docs_url("reference/settings", "sessionhub")
            self.names_problem = exc.problem("SESSIONHUB", docs)
            self.problems.append(self.names_problem)
            return
        if "default" not in clients:
            names = ", ".join(v.shown(name) for name in sorted(clients)) or "none"
            hint = (
                'sessionhub.get() with no name asks for "default"; add SESSIONHUB["default"] '
                '(it may be empty: {"default": {}}).'
            )
            text = f"SESSIONHUB has no 'default' client (it has {names})."
            self.problems.append(("sessionhub.E006", text, hint))
        for name, options in clients.items():
            config, found = read(name, options)
            self.problems += found
            self.configs[name] = config or [p for p in found if p[0].startswith("sessionhub.E")]


def _clients(raw: object) -> dict[str, object]:
    """``SESSIONHUB`` as a plain dict of names to options."""
    if raw is None:
        return {"default": {}}
    hint = 'For example: SESSIONHUB = {"default": {}, "payments": {"TIMEOUT": 5}}.'
    if not isinstance(raw, Mapping):
        text = f" must be a dict of client names to dicts of options, not {v.kind(raw)}"
        raise Invalid("sessionhub.E001", text, hint)
    clients = dict(raw.items())
    for name in clients:
        if not isinstance(name, str):
            text = f"'s client names must be str; it has a name of type {v.kind(name)}"
            raise Invalid("sessionhub.E001", text, hint)
    return {str.__str__(name): options for name, options in clients.items()}


# Reentrant: validating imports each FACTORY, whose module may read settings.
_lock = threading.RLock()
_validated: _Clients | None = None


def _current() -> _Clients:
    global _validated
    with _lock:
        if _validated is None:
            _validated = _Clients()
        return _validated


def forget(*, setting: str, **kwargs: object) -> None:
    """``setting_changed`` receiver: check ``SESSIONHUB`` again when it changed."""
    global _validated
    if setting == "SESSIONHUB":
        with _lock:
            _validated = None


def client_names() -> list[str]:
    """The configured client names (``["default"]`` without a ``SESSIONHUB`` setting).

    Raises ``ImproperlyConfigured`` if ``SESSIONHUB`` is not a dict of names
    (str) to dicts of options.
    """
    current = _current()
    if current.names_problem is not None:
        _raise([current.names_problem])
    return sorted(current.configs)


def client_config(name: str, *, overridden: bool = False) -> ClientConfig:
    """The options of client ``name``; raise ``ImproperlyConfigured`` if they are wrong.

    The message is that of the system checks, ids included. A name the setting
    does not configure raises ``UnknownClientError``, unless a test override
    builds it (``overridden``): it then gets the defaults.
    """
    names = client_names()
    if name not in names:
        if overridden:
            return ClientConfig(name=name)
        raise UnknownClientError(
            f"sessionhub.get({name!r}): there is no client named {name!r}; the configured "
            f"clients are {', '.join(map(repr, names)) or 'none'}. Add it to the SESSIONHUB "
            f"setting, or fix the name. {see(UnknownClientError)}"
        )
    config = _current().configs[name]
    if isinstance(config, list):
        _raise(config)
    assert isinstance(config, ClientConfig)
    return config


def _raise(found: list[Problem]) -> None:
    text = " ".join(f"{message} {hint_for(cid, hint)} ({cid})" for cid, message, hint in found)
    raise ImproperlyConfigured(text)


def problems() -> list[Problem]:
    """Everything wrong with ``SESSIONHUB``, for the system checks."""
    return list(_current().problems)
