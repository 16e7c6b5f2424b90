"""One pooled aiohttp session per worker event loop, for Django."""

from __future__ import annotations

from sessionhub.hub import LifespanFinishedError, NoRunningLoopError, SessionhubError, get

__all__ = ["LifespanFinishedError", "NoRunningLoopError", "SessionhubError", "get"]
