"""``request.state``: the ASGI lifespan state, read-only, in every view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase

from sessionhub.errors import NoLifespanStateError, see

__all__ = [
    "WSGI_STATE_KEY",
    "LifespanState",
    "LifespanStateMiddleware",
    "NoLifespanStateError",
    "lifespan_state",
]

#: Where a WSGI request carries a lifespan state, in ``request.META`` (the WSGI
#: environ): WSGI has none, so only ``sessionhub.testing.Client`` puts one there.
WSGI_STATE_KEY = "sessionhub.lifespan_state"


class LifespanState(Mapping[str, Any]):
    """The lifespan state of one request, as a read-only mapping.

    The server gives every request a shallow copy of what the lifespan_started
    receivers left in the state, so writing to it could never reach another
    request: it is read-only to say so.
    """

    def __init__(self, state: Mapping[str, Any] | None) -> None:
        self._state = state

    def _items(self) -> Mapping[str, Any]:
        if self._state is None:
            raise NoLifespanStateError(
                "request.state: this request came without a lifespan state. The server ran no "
                "ASGI lifespan (daphne, runserver, WSGI, uvicorn --lifespan off) or keeps no "
                "state, or the host application did not pass the state on. Serve "
                "sessionhub.asgi.get_asgi_application() under uvicorn, hypercorn or granian; "
                "in tests, use sessionhub.testing.Client(state=...) or AsyncClient(state=...). "
                + see(NoLifespanStateError)
            )
        return self._state

    def __getitem__(self, key: str) -> Any:
        items = self._items()
        try:
            return items[key]
        except KeyError:
            # The keys are names a receiver chose, never values: safe to list.
            raise KeyError(
                f"{key!r} is not in the lifespan state (it has {sorted(items) or 'nothing'}); "
                "a lifespan_started receiver puts it there"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        if self._state is None:
            return "<LifespanState: none>"
        return f"<LifespanState: {sorted(self._state)}>"


def lifespan_state(request: HttpRequest) -> LifespanState:
    """The lifespan state of ``request`` (ASGI ``scope["state"]``), read-only."""
    if isinstance(request, ASGIRequest):
        state = request.scope.get("state")
    else:
        state = request.META.get(WSGI_STATE_KEY)
    return LifespanState(state)


class LifespanStateMiddleware:
    """Set ``request.state`` to the request's lifespan state, for sync and async views.

    Reading a request that has no state raises ``NoLifespanStateError``, which
    says why; requests that do not read it are not affected.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Django then calls this middleware without a thread hop.
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        request.state = lifespan_state(request)  # type: ignore[attr-defined]
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        request.state = lifespan_state(request)  # type: ignore[attr-defined]
        # In async mode Django gave an async get_response.
        return await cast(Awaitable[HttpResponseBase], self.get_response(request))
