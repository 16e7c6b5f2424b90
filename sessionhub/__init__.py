"""One pooled HTTP client per name and worker event loop, for Django."""

from __future__ import annotations

from sessionhub.errors import (
    LifespanFailedError,
    LifespanFinishedError,
    NoLifespanStateError,
    NoRunningLoopError,
    OriginNotAllowedError,
    PoolOverloadedError,
    SessionhubError,
    UnknownClientError,
)
from sessionhub.lifespans import register_lifespan
from sessionhub.registry import get
from sessionhub.stats import stats

__all__ = [
    "LifespanFailedError",
    "LifespanFinishedError",
    "NoLifespanStateError",
    "NoRunningLoopError",
    "OriginNotAllowedError",
    "PoolOverloadedError",
    "SessionhubError",
    "UnknownClientError",
    "get",
    "register_lifespan",
    "stats",
]
