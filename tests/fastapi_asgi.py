"""A FastAPI application that hosts Django under /django/, as the README shows."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.compose_settings")

from fastapi import FastAPI  # noqa: E402

import sessionhub  # noqa: E402
import sessionhub.asgi  # noqa: E402
from tests import compose_receivers  # noqa: E402

django_app = sessionhub.asgi.get_asgi_application()
compose_receivers.connect()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # sessionhub's lifespan (its receivers, its clients) runs inside the host's;
    # the state it yields becomes the host's, which every request gets a copy of.
    async with sessionhub.asgi.lifespan(django_app) as state:
        assert state is not None  # typed optional for servers; a host gets a new dict
        yield state


app = FastAPI(lifespan=lifespan)


@app.get("/api/fetch")
async def fetch(url: str) -> dict[str, Any]:
    """A FastAPI route using the same pooled client as the Django views."""
    session = sessionhub.get()
    async with session.get(url) as response:
        return {"session": id(session), "upstream": await response.json()}


# Django's handler types its scope as a dict, Starlette's as a MutableMapping.
app.mount("/django", django_app)  # type: ignore[arg-type]
