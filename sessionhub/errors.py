"""The errors sessionhub raises, and how its messages name what failed."""

from __future__ import annotations

import functools
import traceback

__all__ = [
    "LifespanFailedError",
    "LifespanFinishedError",
    "NoLifespanStateError",
    "NoRunningLoopError",
    "OriginNotAllowedError",
    "SessionhubError",
    "UnknownClientError",
    "describe",
    "describe_exception",
    "loop_name",
]


class SessionhubError(RuntimeError):
    """Base class for the errors sessionhub raises."""


class NoRunningLoopError(SessionhubError):
    """``get()`` was called where no event loop is running."""


class LifespanFinishedError(SessionhubError):
    """``get()`` was called on a loop that is winding down: a new client could never be closed."""


class UnknownClientError(SessionhubError):
    """``get(name)`` was called with a name that ``SESSIONHUB`` does not configure."""


class LifespanFailedError(SessionhubError):
    """A lifespan's startup or shutdown failed; the message says what failed and why."""


class OriginNotAllowedError(SessionhubError):
    """A client was asked to send a request to an origin it is not allowed to reach."""


class NoLifespanStateError(SessionhubError):
    """A view read ``request.state`` on a request that came with no lifespan state."""


def describe(thing: object) -> str:
    """Name a callable or a class for an operator (``module.qualname``); never raises."""
    try:
        if isinstance(thing, functools.partial):
            return f"functools.partial({describe(thing.func)})"
        qualname = getattr(thing, "__qualname__", None)
        module = getattr(thing, "__module__", None)
        if isinstance(qualname, str) and isinstance(module, str):
            return f"{module}.{qualname}"
        return f"{describe(type(thing))} instance"
    except Exception:  # noqa: BLE001 - a name is not worth a failure
        return "<a callable that cannot be named>"


def loop_name(loop: object) -> str:
    """How log lines name an event loop: its type and id."""
    return f"{type(loop).__name__}@{id(loop):#x}"


def describe_exception(exc: BaseException) -> str:
    """One line an operator can grep for, then the traceback."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return f"{type(exc).__name__}: {exc}\n{trace}"
