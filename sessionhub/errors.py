"""The errors sessionhub raises, how its messages name what failed, and where they point."""

from __future__ import annotations

import functools
import traceback

__all__ = [
    "LifespanFailedError",
    "LifespanFinishedError",
    "NoLifespanStateError",
    "NoRunningLoopError",
    "OriginNotAllowedError",
    "PoolOverloadedError",
    "SessionhubError",
    "UnknownClientError",
    "anchor",
    "describe",
    "describe_exception",
    "docs_url",
    "hint_for",
    "loop_name",
    "see",
]

#: Where the documentation site is published. Messages link into it with
#: ``docs_url()``; the site gives every option, setting, check id and error
#: the anchor that ``anchor()`` or ``see()`` names (tests/test_docs_reference.py).
DOCS_URL = "https://django-sessionhub.readthedocs.io/en/latest/"


def anchor(name: str) -> str:
    """The anchor the documentation gives an option, a setting or a check id."""
    return name.lower().replace("_", "-").replace(".", "-")


def docs_url(page: str, at: str = "") -> str:
    """The address of a page of the documentation (``"reference/settings"``), at anchor ``at``."""
    return f"{DOCS_URL}{page}.html" + (f"#{at}" if at else "")


def hint_for(check_id: str, hint: str) -> str:
    """A system check's ``hint``, ending with where the documentation says more."""
    if DOCS_URL in hint:
        return hint
    return f"{hint} See {docs_url('reference/checks', anchor(check_id))}".lstrip()


def see(error: type[BaseException]) -> str:
    """``See <the error's section of the documentation>.``, for the end of its message."""
    return f"See {docs_url('reference/errors', f'sessionhub.{error.__name__}')}."


# The docstrings of the errors below are the errors page of the documentation.


class SessionhubError(RuntimeError):
    """Base class for the errors sessionhub raises; a ``RuntimeError``.

    Wrong settings raise Django's own ``ImproperlyConfigured`` instead, with
    the message and id of the system check that reports them.
    """


class NoRunningLoopError(SessionhubError):
    """``get()`` was called where no event loop is running.

    A sync view, import time, a thread without a loop. Call ``get()`` from async
    code: an ``async def`` view, a receiver, a coroutine run by ``asyncio.run()``.
    """


class LifespanFinishedError(SessionhubError):
    """``get()`` was called on a loop that is winding down: a new client could never be closed.

    Raised only where nothing could close a client opened now: an async
    generator finalized at the loop's end, after sessionhub closed the loop's
    clients. Finish upstream calls before the loop ends.
    """


class UnknownClientError(SessionhubError):
    """``get(name)`` was called with a name that ``SESSIONHUB`` does not configure.

    The message lists the names it has. Add the client to ``SESSIONHUB``, or
    fix the name; a test can build one with ``override_client`` instead.
    """


class LifespanFailedError(SessionhubError):
    """A lifespan's startup or shutdown failed; the message says what failed and why.

    Each failure names the receiver or registered lifespan (``module.qualname``)
    with its exception and traceback, or the bound it overran. The server got
    the same message in ``lifespan.startup.failed`` or
    ``lifespan.shutdown.failed``; the handler raises it after that, so that
    every driver (asgi-lifespan, Starlette's ``TestClient``) sees the failure.
    """


class OriginNotAllowedError(SessionhubError):
    """A client was asked to send a request to an origin it is not allowed to reach.

    Nothing was sent. A client with a ``BASE_URL`` sends only to that origin
    and to its ``ALLOWED_ORIGINS``; the message gives the entry that would
    allow the request, if the client is meant to call that origin.
    """


class NoLifespanStateError(SessionhubError):
    """A view read ``request.state`` on a request that came with no lifespan state.

    The server ran no ASGI lifespan (daphne, runserver, WSGI, ``uvicorn
    --lifespan off``) or keeps no state, or a host application did not pass
    it on. In tests, give the state with ``sessionhub.testing.Client(state=...)``.
    """


class PoolOverloadedError(SessionhubError):
    """An upstream call was refused at once: its client's pool could not give it a
    connection in time to answer within the client's ``TIMEOUT``.

    ``retry_after`` is how many seconds to suggest to the caller (``Retry-After``);
    ``sessionhub.admission.OverloadMiddleware`` answers 503 with it.
    """

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
