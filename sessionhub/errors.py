"""The errors sessionhub raises."""

from __future__ import annotations

__all__ = [
    "LifespanFailedError",
    "LifespanFinishedError",
    "NoLifespanStateError",
    "NoRunningLoopError",
    "OriginNotAllowedError",
    "PoolOverloadedError",
    "SessionhubError",
    "UnknownClientError",
]


class SessionhubError(RuntimeError):
    """Base class for the errors sessionhub raises."""


class NoRunningLoopError(SessionhubError):
    """``get()`` was called where no event loop is running."""


class LifespanFinishedError(SessionhubError):
    """``get()`` was called on a loop where a new client could never be closed.

    The loop is shutting down, or a server's lifespan on it has finished and
    the server may end the process without winding the loop down.
    """


class UnknownClientError(SessionhubError):
    """``get(name)`` was called with a name that ``SESSIONHUB`` does not configure."""


class LifespanFailedError(SessionhubError):
    """A lifespan's startup or shutdown failed; the message says what failed and why."""


class OriginNotAllowedError(SessionhubError):
    """A client was asked to send a request to an origin it is not allowed to reach."""


class NoLifespanStateError(SessionhubError):
    """A view read ``request.state`` on a request that came with no lifespan state."""


class PoolOverloadedError(SessionhubError):
    """An upstream call was refused at once: its client's pool could not give it a
    connection in time to answer within the client's ``TIMEOUT``.

    ``retry_after`` is how many seconds to suggest to the caller (``Retry-After``);
    ``sessionhub.admission.OverloadMiddleware`` answers 503 with it.
    """

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
