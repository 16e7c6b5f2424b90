"""Keep a client's requests, and the credentials they carry, with the upstream they are for.

A client with a ``BASE_URL`` sends requests only to that URL's origin (scheme,
host and port) and to those in its ``ALLOWED_ORIGINS``, and through no proxy
but one at an allowed origin or the environment's (``TRUST_ENV``); anything
else fails with ``OriginNotAllowedError`` before it is sent. A hop to an
origin other than the one the request was made to (a redirect) carries only
the headers that describe the request (``SAFE_ON_OTHER_ORIGINS``): the
client's ``HEADERS`` and those the call passed stay behind.

The ready factories do this themselves. A ``FACTORY`` of your own gets the same
by passing ``aiohttp_options(config)`` to ``aiohttp.ClientSession`` or
``httpx_event_hooks(config)`` to ``httpx.AsyncClient``.
"""

from __future__ import annotations

import contextlib
import urllib.request
from contextvars import ContextVar, Token
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
import yarl
from django.core.exceptions import ImproperlyConfigured

from sessionhub import addresses
from sessionhub.addresses import Origin
from sessionhub.errors import OriginNotAllowedError, see

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from sessionhub.options import ClientConfig

__all__ = [
    "SAFE_ON_OTHER_ORIGINS",
    "OriginNotAllowedError",
    "aiohttp_options",
    "httpx_event_hooks",
]

#: The headers a hop to another origin keeps: those the HTTP client writes to
#: describe the request and its body, and the allowed proxy's credentials.
SAFE_ON_OTHER_ORIGINS = frozenset(
    [
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "expect",
        "proxy-authorization",
    ]
)
# Where httpx requests keep the origin they were made to, for their redirects
# (httpx gives a redirect the extensions of the request it follows).
_EXTENSION = "sessionhub.origin"


class _Request:
    """One aiohttp request, through all its redirects: the origin of its first hop."""

    __slots__ = ("origin",)

    def __init__(self) -> None:
        self.origin: Origin | None = None


# The aiohttp request being sent in this task: set by the trace config when it
# starts, reset when it ends, read by the middleware on each hop.
_current: ContextVar[_Request | None] = ContextVar("sessionhub_request", default=None)


class _Guard:
    """Where one client may send what."""

    def __init__(self, config: ClientConfig) -> None:
        self.client = config.name
        self.trust_env = config.trust_env
        self.anywhere = "*" in config.allowed_origins or (
            config.base_url is None and not config.allowed_origins
        )
        self.home = None if config.base_url is None else _origin(config.base_url)
        allowed = {_origin(entry) for entry in config.allowed_origins if entry != "*"}
        self.allowed = frozenset(allowed | ({self.home} if self.home else set()))
        self.needed = not self.anywhere or bool(config.headers)

    def check(self, origin: Origin, proxy: Origin | None = None) -> None:
        """Raise ``OriginNotAllowedError`` unless the client may send to ``origin``
        (through ``proxy``)."""
        if self.anywhere:
            return
        if origin not in self.allowed:
            what = f"a request to {addresses.show(origin)}"
            raise OriginNotAllowedError(self.refusal(what, origin, see(OriginNotAllowedError)))
        if proxy is not None and proxy not in self.allowed and not self._from_env(proxy):
            what = (
                f"a request to {addresses.show(origin)} through the proxy {addresses.show(proxy)}"
            )
            raise OriginNotAllowedError(self.refusal(what, proxy, see(OriginNotAllowedError)))

    def refusal(self, what: str, origin: Origin, more: str = "") -> str:
        """Why the client refuses ``what``, the fix if there is one, and ``more``."""
        bound = (
            f"its BASE_URL binds it, and its HEADERS, to {addresses.show(self.home)}"
            if self.home is not None
            else "its ALLOWED_ORIGINS do not list it"
        )
        entry = addresses.show(origin)
        if addresses.url_problem(entry, origin_only=True) is None:
            fix = (
                f"If this client is meant to call that origin, add {entry!r} to "
                f"SESSIONHUB[{self.client!r}]['ALLOWED_ORIGINS']."
            )
        else:
            fix = "Only http:// and https:// origins can be allowed: give the URL's scheme."
        refused = f"sessionhub client {self.client!r} refused to send {what}: {bound}. {fix}"
        return f"{refused} {more}" if more else refused

    def _from_env(self, proxy: Origin) -> bool:
        # The operator's own choice, as TRUST_ENV says (aiohttp and httpx read
        # the same variables through the standard library).
        return self.trust_env and proxy in _env_proxies()

    async def aiohttp_middleware(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        origin = addresses.of(request.url)
        self.check(origin, None if request.proxy is None else addresses.of(request.proxy))
        current = _current.get()
        if current is not None:
            if current.origin is None:
                current.origin = origin
            elif current.origin != origin:
                _keep_safe_headers(request.headers)
        return await handler(request)

    async def httpx_request_hook(self, request: httpx.Request) -> None:
        origin = _origin(str(request.url))
        self.check(origin)
        if request.extensions.setdefault(_EXTENSION, origin) != origin:
            _keep_safe_headers(request.headers)


def _origin(url: str) -> Origin:
    return addresses.of(yarl.URL(url))


def _env_proxies() -> set[Origin]:
    found = set()
    for url in urllib.request.getproxies().values():
        with contextlib.suppress(ValueError):
            found.add(_origin(url))
    return found


def _keep_safe_headers(headers: Any) -> None:
    # aiohttp's CIMultiDict and httpx's Headers both delete every value of a name.
    for name in {name.lower() for name in headers} - SAFE_ON_OTHER_ORIGINS:
        del headers[name]


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
    if not guard.needed:
        return {}
    # The trace config tells the middleware which hops are redirects.
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_request_started)
    trace.on_request_end.append(_request_done)
    trace.on_request_exception.append(_request_done)
    return {"middlewares": [guard.aiohttp_middleware], "trace_configs": [trace]}


def httpx_event_hooks(config: ClientConfig) -> dict[str, list[Any]]:
    """``event_hooks`` for ``httpx.AsyncClient`` that bind ``config``'s origins.

    ``{"request": [hook], "response": []}``; put the hook first if you add
    request hooks of your own.
    """
    guard = _Guard(config)
    return {"request": [guard.httpx_request_hook] if guard.needed else [], "response": []}


def check_options(config: ClientConfig) -> None:
    """Refuse ``OPTIONS`` that would send a bound client's requests elsewhere.

    A ``proxy`` must be at an allowed origin; httpx's ``mounts`` and
    ``transport`` are refused, as where they send requests cannot be seen.
    Raises ``ImproperlyConfigured`` naming the setting and option.
    """
    guard = _Guard(config)
    where = f"SESSIONHUB[{config.name!r}]['OPTIONS']"
    if guard.anywhere:
        return
    for key in ("mounts", "transport"):
        if key in config.options:
            raise ImproperlyConfigured(
                f"{where}[{key!r}] may send this client's requests, with its HEADERS, "
                "through another route (a proxy, a socket), which sessionhub cannot check. "
                "Give a proxy as OPTIONS['proxy'] at an origin in ALLOWED_ORIGINS instead, "
                'or set ALLOWED_ORIGINS to ["*"] if the client may send anywhere.'
            )
    proxy = config.options.get("proxy")
    if proxy is not None:
        origin = _origin(str(getattr(proxy, "url", proxy)))  # httpx.Proxy keeps it as .url
        if origin not in guard.allowed:
            what = f"requests through the proxy {addresses.show(origin)}"
            raise ImproperlyConfigured(f"{where}['proxy']: {guard.refusal(what, origin)}")
