from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "bench.project"
    label = "bench_project"

    def ready(self) -> None:
        from django_asgi_lifespan.register import register_lifespan_manager

        from bench.project.lifespan import aiohttp_session_state

        # Only django-asgi-lifespan's handler sends the signal this hooks into.
        register_lifespan_manager(context_manager=aiohttp_session_state)
