"""sessionhub's settings: ``SESSIONHUB`` (the named clients) and the shutdown settings.

The settings are validated once per settings object, on first use, and again
after Django's ``setting_changed`` signal names one of them. ``ClientConfig``
and ``OPTIONS`` come from ``sessionhub.options``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sessionhub import options as _options
from sessionhub import validation as v
from sessionhub.options import OPTIONS as OPTIONS
from sessionhub.options import ClientConfig as ClientConfig
from sessionhub.validation import Invalid, Problem

logger = logging.getLogger("sessionhub")


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
# Setting -> (default, its rule): at most an hour.
_SHUTDOWN: dict[str, tuple[float, v.Clean]] = {
    "SESSIONHUB_CLOSE_TIMEOUT": (CLOSE_TIMEOUT, v.seconds(most=3_600)),
    "SESSIONHUB_STARTUP_TIMEOUT": (STARTUP_TIMEOUT, v.seconds(most=3_600)),
    "SESSIONHUB_SHUTDOWN_TIMEOUT": (SHUTDOWN_TIMEOUT, v.seconds(most=3_600)),
    "SESSIONHUB_DRAIN_SECONDS": (DRAIN_SECONDS, v.seconds(zero=True, most=3_600)),
}


class _Validated:
    """Everything the settings say, checked: built once per settings object."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.shutdown: dict[str, float] = {}
        # Setting -> what is wrong with it, until the fallback is logged (once).
        self.unlogged: dict[str, str] = {}
        for setting, (default, clean) in _SHUTDOWN.items():
            try:
                self.shutdown[setting] = clean(getattr(settings, setting, default))
            except Exception as exc:
                text = exc.text if isinstance(exc, Invalid) else f" cannot be read ({v.kind(exc)})"
                self.unlogged[setting] = f"{setting}{text}."
                hint = f"The default is {default:g}; see the README's Running in production."
                self.problems.append(("sessionhub.E009", self.unlogged[setting], hint))
                self.shutdown[setting] = default
        self.shutdown_problems = list(self.problems)
        # Name -> its config, or the errors that keep it from being built.
        self.configs: dict[str, ClientConfig | list[Problem]] = {}
        self.names_problem: Problem | None = None
        raw = getattr(settings, "SESSIONHUB", None)
        try:
            clients = _clients(raw)
        except Exception as exc:
            if not isinstance(exc, Invalid):
                exc = Invalid("sessionhub.E001", f" cannot be read: it raised {v.kind(exc)}")
            self.names_problem = exc.problem("SESSIONHUB", "SESSIONHUB")
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
            config, found = _options.read(name, options)
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


def client_names() -> list[str]:
    """The configured client names (``["default"]`` without a ``SESSIONHUB`` setting).

    Raises ``ImproperlyConfigured`` if ``SESSIONHUB`` is not a dict of names
    (str) to dicts of options.
    """
    current = _current()
    if current.names_problem is not None:
        _raise([current.names_problem])
    return sorted(current.configs)


def client_config(name: str) -> ClientConfig:
    """The options of client ``name``; raise ``ImproperlyConfigured`` if they are wrong.

    The message is that of the system checks, ids included. Raises
    ``KeyError`` for a name the setting does not configure.
    """
    client_names()
    config = _current().configs[name]
    if isinstance(config, list):
        _raise(config)
    assert isinstance(config, ClientConfig)
    return config


def _raise(found: list[Problem]) -> None:
    text = " ".join(f"{message} {hint} ({check_id})" for check_id, message, hint in found)
    raise ImproperlyConfigured(text)


def problems() -> list[Problem]:
    """Everything wrong with the sessionhub settings, for the system checks."""
    return list(_current().problems)


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


def health_details() -> bool:
    """``SESSIONHUB_HEALTH_DETAILS``: whether the health view adds the pid and ``stats()``.

    Off by default: the view is often reachable by anyone. Only ``True`` turns it on.
    """
    return getattr(settings, "SESSIONHUB_HEALTH_DETAILS", False) is True
