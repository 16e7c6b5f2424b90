"""One pooled HTTP client per name and worker event loop, for Django."""

from __future__ import annotations

from sessionhub.hub import (
    LifespanFinishedError,
    NoRunningLoopError,
    SessionhubError,
    UnknownClientError,
    get,
)
from sessionhub.stats import stats

__all__ = [
    "LifespanFinishedError",
    "NoRunningLoopError",
    "SessionhubError",
    "UnknownClientError",
    "get",
    "stats",
]
