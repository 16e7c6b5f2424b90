from __future__ import annotations

from typing import Any

from django.apps import AppConfig


async def welcome(state: dict[str, Any] | None, **kwargs: Any) -> None:
    """Leave a message of the day in the lifespan state."""
    if state is not None:
        state["motd"] = "Welcome back"


class ReadmeProjectConfig(AppConfig):
    name = "tests.readme_project"

    def ready(self) -> None:
        from sessionhub.signals import lifespan_started

        lifespan_started.connect(welcome, dispatch_uid="tests.readme_project.welcome")
