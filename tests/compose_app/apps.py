from __future__ import annotations

import os
from typing import Any

from django.apps import AppConfig


async def greet(state: dict[str, Any] | None, **kwargs: Any) -> None:
    """Put a greeting with this worker's pid into the state (when the server keeps one)."""
    if state is not None:
        state["greeting"] = f"hello from {os.getpid()}"


class ComposeAppConfig(AppConfig):
    name = "tests.compose_app"

    def ready(self) -> None:
        from sessionhub.signals import lifespan_started

        lifespan_started.connect(greet, dispatch_uid="tests.compose_app.greet")
