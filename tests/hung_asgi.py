"""The reference project with a receiver that never returns: HUNG=started or HUNG=finished."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from config.asgi import application
from sessionhub.signals import lifespan_finished, lifespan_started

__all__ = ["application"]


async def wait_for_ever(**kwargs: Any) -> None:
    """An upstream that never answers."""
    await asyncio.Event().wait()


signal = {"started": lifespan_started, "finished": lifespan_finished}[os.environ["HUNG"]]
signal.connect(wait_for_ever)
