"""The ceiling: the same upstream call from a bare ASGI app, without Django.

Its session is created at lifespan startup and closed at shutdown, kept in the
lifespan state that the server copies into every request's scope.
"""

from __future__ import annotations

from typing import Any

from asgiref.typing import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope

from bench.client import fetch, new_session

__all__ = ["create_app"]

_CONTENT_TYPE = (b"content-type", b"application/json")


async def _app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    # uvicorn always passes lifespan state; a server without it fails loudly here.
    state = scope["state"]
    if scope["type"] == "lifespan":
        await _lifespan(state, receive, send)
        return
    body = await fetch(state["session"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_CONTENT_TYPE, (b"content-length", str(len(body)).encode())],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(
    state: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await receive()  # lifespan.startup
    state["session"] = new_session()
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await state.pop("session").close()
    await send({"type": "lifespan.shutdown.complete"})


def create_app() -> ASGI3Application:
    """uvicorn's ``--factory`` entry point."""
    return _app
