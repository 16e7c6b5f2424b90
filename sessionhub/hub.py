"""Deprecated: the names ``sessionhub.hub`` had before it was split by job.

``get`` and the errors are importable from ``sessionhub`` itself; the
registry lives in ``sessionhub.registry``. This module will go in 1.0.
"""

from __future__ import annotations

from sessionhub.errors import (
    LifespanFinishedError,
    NoRunningLoopError,
    SessionhubError,
    UnknownClientError,
)
from sessionhub.lifecycle import open_on_startup
from sessionhub.registry import get

__all__ = [
    "LifespanFinishedError",
    "NoRunningLoopError",
    "SessionhubError",
    "UnknownClientError",
    "get",
    "open_on_startup",
]
