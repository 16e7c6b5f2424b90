"""The ``SESSIONHUB`` settings: named clients, their options and defaults.

The options are the fields of ``ClientConfig``; each field's metadata says what
its value must be and how to check it, so the table of options, the system
checks and the errors raised when a client is built all come from one place.

The settings are validated once per settings object, on first use, and again
after Django's ``setting_changed`` signal (``override_settings`` in a test)
names one of them.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sessionhub import validation as v
from sessionhub.validation import Problem

__all__ = [
    "ClientConfig",
    "Problem",
    "client_config",
    "client_names",
    "close_timeout",
    "drain_seconds",
    "problems",
    "shutdown_problems",
    "shutdown_timeout",
    "startup_timeout",
]

logger = logging.getLogger("sessionhub")

DEFAULT_FACTORY = v.DEFAULT_FACTORY


def _option(default: Any, check: v.Check, *, factory: Callable[[], Any] | None = None) -> Any:
    """A ``ClientConfig`` field that is an option, checked by ``check``."""
    if factory is not None:
        return field(default_factory=factory, metadata={"check": check})
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The options of one named client, with defaults filled in.

    This is what a ``FACTORY`` receives; the attributes are the options in
    lower case.
    """

    name: str
    base_url: str | None = _option(None, v.base_url)
    headers: Mapping[str, str] = _option(None, v.headers, factory=dict)
    timeout: float | None = _option(10.0, v.seconds(none=True))
    connect_timeout: float | None = _option(3.0, v.seconds(none=True))
    read_timeout: float | None = _option(None, v.seconds(none=True))
    limit: int = _option(100, v.count("0 means no limit"))
    limit_per_host: int = _option(50, v.count("0 means no limit"))
    keepalive_timeout: float = _option(15.0, v.seconds(none=False))
    ttl_dns_cache: int | None = _option(10, v.count("0 turns the DNS cache off", none=True))
    verify: bool = _option(True, v.flag)
    ca_bundle: str | None = _option(None, v.ca_bundle)
    raise_for_status: bool = _option(False, v.flag)
    trust_env: bool = _option(False, v.flag)
    cookies: Literal["none", "shared"] = _option("none", v.cookies)
    options: Mapping[str, Any] = _option(None, v.keywords, factory=dict)
    factory: str = _option(DEFAULT_FACTORY, v.factory)
    # Last, so that the fields before it keep their positions.
    allowed_origins: tuple[str, ...] = _option((), v.allowed_origins)


# Option name (upper case, as in the setting) -> its ClientConfig field.
OPTIONS: dict[str, Field[Any]] = {f.name.upper(): f for f in fields(ClientConfig) if f.metadata}

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
DRAIN_SECONDS = 0.0
# Setting -> (default, whether 0 is allowed).
_SHUTDOWN: dict[str, tuple[float, bool]] = {
    "SESSIONHUB_CLOSE_TIMEOUT": (CLOSE_TIMEOUT, False),
    "SESSIONHUB_STARTUP_TIMEOUT": (STARTUP_TIMEOUT, False),
    "SESSIONHUB_SHUTDOWN_TIMEOUT": (SHUTDOWN_TIMEOUT, False),
    "SESSIONHUB_DRAIN_SECONDS": (DRAIN_SECONDS, True),
}


class _Validated:
    """Everything the settings say, checked: built once per settings object."""

    def __init__(self) -> None:
        raw = getattr(settings, "SESSIONHUB", None)
        self.shutdown: dict[str, float] = {}
        self.shutdown_problems: list[Problem] = []
        # Setting -> what is wrong with it, until the fallback is logged (once).
        self.unlogged: dict[str, str] = {}
        for setting, (default, zero) in _SHUTDOWN.items():
            value = getattr(settings, setting, default)
            found = v.shutdown_seconds(setting, value, default, zero)
            self.shutdown_problems += found
            self.shutdown[setting] = default if found else float(value)
            for _, message, _ in found:
                self.unlogged[setting] = message
        # Problems of the setting as a whole; with an error among them, no
        # client can be built.
        self.setting_problems = v.setting(raw, configured=raw is not None)
        self.names: list[str] = ["default"]
        # Name -> its config, or the errors that keep it from being built.
        self.configs: dict[str, ClientConfig | list[Problem]] = {}
        self.client_problems: list[Problem] = []
        if raw is None:
            self.configs["default"] = ClientConfig(name="default")
        elif not _names_unusable(self.setting_problems):
            assert isinstance(raw, Mapping)
            self.names = sorted(raw)
            for name, options in raw.items():
                found = _client_problems(name, options)
                self.client_problems += found
                self.configs[name] = v.errors(found) or _build_config(name, options)

    def problems(self) -> list[Problem]:
        return self.shutdown_problems + self.setting_problems + self.client_problems


def _client_problems(name: str, options: object) -> list[Problem]:
    where = f"SESSIONHUB[{name!r}]"
    if not isinstance(options, Mapping):
        return [
            (
                "sessionhub.E001",
                f"{where} must be a dict of options, not {v.type_name(options)}.",
                'Use {} for the defaults, or e.g. {"BASE_URL": "https://api.example.com/"}.',
            )
        ]
    found: list[Problem] = []
    for key, value in options.items():
        option = OPTIONS.get(key) if isinstance(key, str) else None
        if option is None:
            found.append(_unknown_option(where, key))
        else:
            found += option.metadata["check"](f"{where}[{key!r}]", value, options)
    return found + v.combination_problems(where, options)


def _unknown_option(where: str, key: object) -> Problem:
    hint = ""
    if isinstance(key, str):
        close = difflib.get_close_matches(key.upper(), OPTIONS, n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
    return (
        "sessionhub.E002",
        f"{where} has an unknown option {v.show_key(key)}.",
        f"{hint}The options are: {', '.join(OPTIONS)}.",
    )


def _build_config(name: str, options: Mapping[str, Any]) -> ClientConfig:
    values = {key.lower(): value for key, value in options.items()}
    if "headers" in values:
        values["headers"] = dict(values["headers"])
    if "options" in values:
        values["options"] = dict(values["options"])
    if "allowed_origins" in values:
        values["allowed_origins"] = tuple(values["allowed_origins"])
    return ClientConfig(name=name, **values)


# Reentrant: validating imports each FACTORY, whose module may read settings.
_lock = threading.RLock()
_validated: _Validated | None = None


def _current() -> _Validated:
    global _validated
    with _lock:
        if _validated is None:
            _validated = _Validated()
        return _validated


def forget(*, setting: str, **kwargs: object) -> None:
    """``setting_changed`` receiver: validate the settings again when one of ours changed."""
    global _validated
    if setting.startswith("SESSIONHUB"):
        with _lock:
            _validated = None


def _names_unusable(found: list[Problem]) -> list[Problem]:
    # E006 (no "default") is left to get("default"), which names the clients.
    return [p for p in found if p[0] == "sessionhub.E001"]


def _raise_setting_errors(current: _Validated) -> None:
    errors = _names_unusable(current.setting_problems)
    if errors:
        raise ImproperlyConfigured(v.as_text(errors))


def client_names() -> list[str]:
    """The configured client names (``["default"]`` without a ``SESSIONHUB`` setting).

    Raises ``ImproperlyConfigured`` if ``SESSIONHUB`` is not a dict of names
    (str) to dicts of options.
    """
    current = _current()
    _raise_setting_errors(current)
    return list(current.names)


def client_config(name: str) -> ClientConfig:
    """The options of client ``name``; raise ``ImproperlyConfigured`` if they are wrong.

    The message is that of the system checks, ids included. Raises
    ``KeyError`` for a name the setting does not configure.
    """
    current = _current()
    _raise_setting_errors(current)
    config = current.configs[name]
    if isinstance(config, list):
        raise ImproperlyConfigured(v.as_text(config))
    return config


def problems() -> list[Problem]:
    """Everything wrong with the sessionhub settings, for the system checks."""
    return _current().problems()


def shutdown_problems() -> list[Problem]:
    """What is wrong with ``SESSIONHUB_CLOSE_TIMEOUT``, ``_DRAIN_SECONDS``,
    ``_STARTUP_TIMEOUT`` and ``_SHUTDOWN_TIMEOUT`` (``sessionhub.E009``).

    A server's worker calls it at boot, and refuses to boot if it is not empty.
    """
    return list(_current().shutdown_problems)


# Caps on the shutdown settings in this process, set by sessionhub's gunicorn
# worker when the settings do not fit in gunicorn's graceful_timeout.
_limits: dict[str, float] = {}


def limit(seconds: Mapping[str, float]) -> None:
    """Cap ``SESSIONHUB_*`` shutdown settings in this process (setting -> seconds; {}: none)."""
    _limits.clear()
    _limits.update(seconds)


def _shutdown_value(setting: str) -> float:
    current = _current()
    value = current.shutdown[setting]
    message = current.unlogged.pop(setting, None)
    if message is not None:
        logger.warning("%s Using the default, %s s (sessionhub.E009).", message, value)
    return min(value, _limits.get(setting, value))


def close_timeout() -> float:
    """``SESSIONHUB_CLOSE_TIMEOUT``: seconds closing a loop's clients may take.

    Always a finite number: a wrong value (``sessionhub.E009``) counts as the
    default, so that clients still get closed, and is logged once.
    """
    return _shutdown_value("SESSIONHUB_CLOSE_TIMEOUT")


def startup_timeout() -> float:
    """``SESSIONHUB_STARTUP_TIMEOUT``: seconds the lifespan startup may take (finite)."""
    return _shutdown_value("SESSIONHUB_STARTUP_TIMEOUT")


def shutdown_timeout() -> float:
    """``SESSIONHUB_SHUTDOWN_TIMEOUT``: seconds ``lifespan_finished`` receivers may take
    before they are cancelled and the clients closed anyway (finite)."""
    return _shutdown_value("SESSIONHUB_SHUTDOWN_TIMEOUT")


def drain_seconds() -> float:
    """``SESSIONHUB_DRAIN_SECONDS``: how long sessionhub's gunicorn worker keeps serving
    after SIGTERM, answering 503 on the health view (finite)."""
    return _shutdown_value("SESSIONHUB_DRAIN_SECONDS")


MAX_REQUESTS_IN_FLIGHT = 1000


def max_requests_in_flight() -> int:
    """``SESSIONHUB_MAX_REQUESTS_IN_FLIGHT``: HTTP requests one worker of
    ``sessionhub.workers.UvicornWorker`` holds at once; past it, it answers 503 (0: no bound)."""
    value = getattr(settings, "SESSIONHUB_MAX_REQUESTS_IN_FLIGHT", MAX_REQUESTS_IN_FLIGHT)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise ImproperlyConfigured(
            "SESSIONHUB_MAX_REQUESTS_IN_FLIGHT must be a whole number from 0 (no bound) to "
            f"1000000, not {value!r}."
        )
    return value


def health_details() -> bool:
    """``SESSIONHUB_HEALTH_DETAILS``: whether the health view adds the pid and ``stats()``.

    Off by default: the view is often reachable by anyone. Only ``True`` turns it on.
    """
    return getattr(settings, "SESSIONHUB_HEALTH_DETAILS", False) is True
