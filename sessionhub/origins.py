"""Keep a client's requests, and its ``HEADERS``, with the upstream they are for.

A client with a ``BASE_URL`` sends requests only to that URL's origin (scheme,
host and port) and to those in its ``ALLOWED_ORIGINS``; a request anywhere
else fails with ``OriginNotAllowedError`` before anything is sent. Whatever
the origins, a redirect to an origin other than the one the request was made
to is followed without the client's ``HEADERS``.

The ready factories do this themselves. A ``FACTORY`` of your own gets the same
by passing ``aiohttp_options(config)`` to ``aiohttp.ClientSession`` or
``httpx_event_hooks(config)`` to ``httpx.AsyncClient``.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar, Token
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
import yarl

from sessionhub import addresses
from sessionhub.addresses import Origin
from sessionhub.errors import OriginNotAllowedError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from sessionhub.conf import ClientConfig

__all__ = ["OriginNotAllowedError", "aiohttp_options", "httpx_event_hooks"]

# Where httpx requests keep the origin they were made to, for their redirects
# (httpx gives a redirect the extensions of the request it follows).
_EXTENSION = "sessionhub.origin"


class _Request:
    """One aiohttp request, through all its redirects."""

    __slots__ = ("origin",)

    def __init__(self) -> None:
        self.origin: Origin | None = None


# The aiohttp request being sent in this task: set by the trace config when it
# starts, reset when it ends, read by the middleware on each hop.
_current: ContextVar[_Request | None] = ContextVar("sessionhub_request", default=None)


class _Guard:
    """What one client may send where."""

    def __init__(self, config: ClientConfig) -> None:
        self.client = config.name
        self.header_names = tuple(config.headers)
        self.anywhere = "*" in config.allowed_origins or (
            config.base_url is None and not config.allowed_origins
        )
        self.home = None if config.base_url is None else _origin(config.base_url)
        allowed = {_origin(entry) for entry in config.allowed_origins if entry != "*"}
        if self.home is not None:
            allowed.add(self.home)
        self.allowed = frozenset(allowed)

    def needed(self) -> bool:
        return not self.anywhere or bool(self.header_names)

    def check(self, origin: Origin) -> None:
        if self.anywhere or origin in self.allowed:
            return
        bound = (
            f"its BASE_URL binds it, and its HEADERS, to {addresses.show(self.home)}"
            if self.home is not None
            else "its ALLOWED_ORIGINS do not list it"
        )
        raise OriginNotAllowedError(
            f"sessionhub client {self.client!r} refused to send a request to "
            f"{addresses.show(origin)}: {bound}. If this client is meant to call that origin, "
            f"add {addresses.show(origin)!r} to SESSIONHUB[{self.client!r}]['ALLOWED_ORIGINS']."
        )

    async def aiohttp_middleware(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        origin = addresses.of(request.url)
        self.check(origin)
        current = _current.get()
        if current is not None:
            if current.origin is None:
                current.origin = origin
            elif current.origin != origin:
                self._drop_headers(request.headers)
        return await handler(request)

    def aiohttp_trace_config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(_request_started)
        trace.on_request_end.append(_request_done)
        trace.on_request_exception.append(_request_done)
        return trace

    async def httpx_request_hook(self, request: httpx.Request) -> None:
        origin = _origin(str(request.url))
        self.check(origin)
        if request.extensions.setdefault(_EXTENSION, origin) != origin:
            self._drop_headers(request.headers)

    def _drop_headers(self, headers: Any) -> None:
        for name in self.header_names:
            # aiohttp's CIMultiDict and httpx's Headers both delete every value.
            with contextlib.suppress(KeyError):
                del headers[name]


def _origin(url: str) -> Origin:
    return addresses.of(yarl.URL(url))


async def _request_started(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: object
) -> None:
    context.sessionhub_token = _current.set(_Request())


async def _request_done(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: object
) -> None:
    # Set by _request_started, in this task's context: aiohttp awaits trace
    # signals in the task that sends the request.
    token: Token[_Request | None] = context.sessionhub_token
    _current.reset(token)


def aiohttp_options(config: ClientConfig) -> dict[str, Any]:
    """Keyword arguments for ``aiohttp.ClientSession`` that bind ``config``'s origins.

    ``{"middlewares": [...], "trace_configs": [...]}``, or ``{}`` when the
    client may call any origin and has no ``HEADERS``. Put these first if you
    pass middlewares or trace configs of your own. A request that passes its
    own ``middlewares=`` replaces the session's, and with them this check.
    """
    guard = _Guard(config)
    if not guard.needed():
        return {}
    options: dict[str, Any] = {"middlewares": [guard.aiohttp_middleware]}
    if guard.header_names:
        # The trace config tells the middleware which hops are redirects.
        options["trace_configs"] = [guard.aiohttp_trace_config()]
    return options


def httpx_event_hooks(config: ClientConfig) -> dict[str, list[Any]]:
    """``event_hooks`` for ``httpx.AsyncClient`` that bind ``config``'s origins.

    ``{"request": [hook], "response": []}``; put the hook first if you add
    request hooks of your own.
    """
    guard = _Guard(config)
    return {"request": [guard.httpx_request_hook] if guard.needed() else [], "response": []}
