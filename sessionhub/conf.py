"""sessionhub's settings besides ``SESSIONHUB`` (``sessionhub.options``): the worker's bounds.

They are checked once per settings object, on first use, and again after
Django's ``setting_changed`` signal names one of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from django.conf import settings

from sessionhub import validation as v
from sessionhub.errors import anchor, docs_url
from sessionhub.validation import Invalid, Problem

logger = logging.getLogger("sessionhub")


# The defaults: why each is where it is, in the docstrings of the functions
# that read them (below).
CLOSE_TIMEOUT = 5.0
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 5.0
DRAIN_SECONDS = 0.0
MAX_REQUESTS_IN_FLIGHT = 1000
# Setting -> (default, its rule): seconds at most an hour.
_SHUTDOWN: dict[str, tuple[float, v.Clean]] = {
    "SESSIONHUB_CLOSE_TIMEOUT": (CLOSE_TIMEOUT, v.seconds(most=3_600)),
    "SESSIONHUB_STARTUP_TIMEOUT": (STARTUP_TIMEOUT, v.seconds(most=3_600)),
    "SESSIONHUB_SHUTDOWN_TIMEOUT": (SHUTDOWN_TIMEOUT, v.seconds(most=3_600)),
    "SESSIONHUB_DRAIN_SECONDS": (DRAIN_SECONDS, v.seconds(zero=True, most=3_600)),
    "SESSIONHUB_MAX_REQUESTS_IN_FLIGHT": (MAX_REQUESTS_IN_FLIGHT, v.count("0: no bound")),
}


class _Shutdown:
    """The shutdown settings, checked: built once per settings object."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.values: dict[str, float] = {}  # an int for the count
        # Setting -> what is wrong with it, until the fallback is logged (once).
        self.unlogged: dict[str, str] = {}
        for setting, (default, clean) in _SHUTDOWN.items():
            try:
                self.values[setting] = clean(getattr(settings, setting, default))
            except Exception as exc:
                text = exc.text if isinstance(exc, Invalid) else f" cannot be read ({v.kind(exc)})"
                self.unlogged[setting] = f"{setting}{text}."
                docs = docs_url("reference/settings", anchor(setting))
                hint = f"The default is {default:g}; see {docs}"
                self.problems.append(("sessionhub.E009", self.unlogged[setting], hint))
                self.values[setting] = default


# Reentrant, like the clients' own: reading a setting may run code that reads more.
_lock = threading.RLock()
_validated: _Shutdown | None = None


def _current() -> _Shutdown:
    global _validated
    with _lock:
        if _validated is None:
            _validated = _Shutdown()
        return _validated


def forget(*, setting: str, **kwargs: object) -> None:
    """``setting_changed`` receiver: check the shutdown settings again when one changed."""
    global _validated
    if setting in _SHUTDOWN:
        with _lock:
            _validated = None


def shutdown_problems() -> list[Problem]:
    """What is wrong with ``SESSIONHUB_CLOSE_TIMEOUT``, ``_DRAIN_SECONDS``,
    ``_STARTUP_TIMEOUT``, ``_SHUTDOWN_TIMEOUT`` and ``_MAX_REQUESTS_IN_FLIGHT``
    (``sessionhub.E009``).

    A server's worker calls it at boot, and refuses to boot if it is not empty.
    """
    return list(_current().problems)


# Caps on the shutdown settings in this process, set by sessionhub's gunicorn
# worker when the settings do not fit in gunicorn's graceful_timeout.
_limits: dict[str, float] = {}


def limit(seconds: Mapping[str, float]) -> None:
    """Cap ``SESSIONHUB_*`` shutdown settings in this process (setting -> seconds; {}: none)."""
    _limits.clear()
    _limits.update(seconds)


def _shutdown_value(setting: str) -> float:
    current = _current()
    value = current.values[setting]
    message = current.unlogged.pop(setting, None)
    if message is not None:
        unit = "" if isinstance(value, int) else " s"
        logger.warning("%s Using the default, %s%s (sessionhub.E009).", message, value, unit)
    return min(value, _limits.get(setting, value))


# The docstrings of the functions below are the settings reference of the
# documentation: the first line after the setting's name says what it is.


def close_timeout() -> float:
    """``SESSIONHUB_CLOSE_TIMEOUT``: seconds closing a loop's clients may take.

    One deadline for all the clients of a loop, at lifespan shutdown or when
    the loop winds down. Past it, the connections still open are reset (an
    upload the upstream stopped reading, a TLS peer that never answers the
    close) and the closes still waiting are cancelled.

    A wrong value (``sessionhub.E009``) counts as the default at run time, so
    that clients still get closed, and is logged once; this is true of every
    shutdown setting.
    """
    return _shutdown_value("SESSIONHUB_CLOSE_TIMEOUT")


def startup_timeout() -> float:
    """``SESSIONHUB_STARTUP_TIMEOUT``: seconds the lifespan startup may take.

    Building the configured clients, the ``lifespan_started`` receivers and
    entering registered lifespans share it. Past it, what still runs is
    cancelled and named, the startup is undone (within the shutdown and close
    bounds), and the server is sent ``lifespan.startup.failed``: uvicorn exits
    3, gunicorn halts. The default is gunicorn's default worker timeout, the
    bound an operator already expects for a worker that hangs while it boots.
    """
    return _shutdown_value("SESSIONHUB_STARTUP_TIMEOUT")


def shutdown_timeout() -> float:
    """``SESSIONHUB_SHUTDOWN_TIMEOUT``: seconds the lifespan shutdown may take.

    Exiting registered lifespans and the ``lifespan_finished`` receivers share
    it; past it, what still runs is cancelled and named, and the clients are
    closed anyway. With gunicorn's default ``graceful_timeout`` (30 s), the
    default leaves 19 s for requests in flight: more than the default client
    ``TIMEOUT``, so a request in flight can still finish its upstream call.
    """
    return _shutdown_value("SESSIONHUB_SHUTDOWN_TIMEOUT")


def drain_seconds() -> float:
    """``SESSIONHUB_DRAIN_SECONDS``: seconds sessionhub's gunicorn worker serves after SIGTERM.

    Meanwhile the health view answers 503, for load balancers that learn
    about a leaving worker from its health checks. Other servers do not drain.
    """
    return _shutdown_value("SESSIONHUB_DRAIN_SECONDS")


def max_requests_in_flight() -> int:
    """``SESSIONHUB_MAX_REQUESTS_IN_FLIGHT``: HTTP requests a worker of sessionhub's gunicorn
    worker class holds at once; past it, it answers 503 at once (0: no bound).

    It counts requests being handled, never connections: an idle keep-alive
    connection, or one that has not sent a whole request yet, is not counted.
    It bounds a worker's memory when its upstreams hang; how long a request
    may wait is bounded by time instead (the overload page of the
    documentation), so the default is well above what a worker serves at once.
    """
    return int(_shutdown_value("SESSIONHUB_MAX_REQUESTS_IN_FLIGHT"))


def health_details() -> bool:
    """``SESSIONHUB_HEALTH_DETAILS``: whether the health view adds the pid and ``stats()``.

    Off by default: the view is often reachable by anyone. Only ``True`` turns
    it on; if describing a client fails, the view logs the error and answers
    ``"clients": null`` with its usual status.
    """
    return getattr(settings, "SESSIONHUB_HEALTH_DETAILS", False) is True
