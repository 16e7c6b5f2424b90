"""A lifespan_started receiver that leaves a value in the lifespan state for views."""

from __future__ import annotations

import os
from typing import Any

from sessionhub.signals import lifespan_started


async def greet(state: dict[str, Any] | None, **kwargs: Any) -> None:
    """Put a greeting with this worker's pid into the state (when the server keeps one)."""
    if state is not None:
        state["greeting"] = f"hello from {os.getpid()}"


def connect() -> None:
    lifespan_started.connect(greet, dispatch_uid="tests.compose_receivers.greet")
