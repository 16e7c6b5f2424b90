"""Ready factories: build a client for a name from its ``ClientConfig``.

``SESSIONHUB[name]["FACTORY"]`` names one of these (``aiohttp_session`` is the
default) or a callable of your own with the same signature. A factory runs
inside the event loop that will use the client; sessionhub closes what it
returns, through ``aclose()`` or ``close()``.
"""

from __future__ import annotations

import http.cookiejar
import math
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from django.core.exceptions import ImproperlyConfigured

from sessionhub import metrics, origins, tracing
from sessionhub.errors import docs_url
from sessionhub.options import OPTIONS, ClientConfig

if TYPE_CHECKING:
    import httpx

__all__ = ["aiohttp_session", "httpx_client"]


def aiohttp_session(config: ClientConfig) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` with the options of ``config``.

    It sends requests only to the origins ``config`` allows, and its
    ``HEADERS`` never follow a redirect to another origin (``sessionhub.origins``).
    """
    origins.check_options(config)
    traced = tracing.Aiohttp(config)  # counts the pool for stats() and OpenTelemetry
    connector = traced.connector(
        limit=config.limit,
        limit_per_host=config.limit_per_host,
        keepalive_timeout=config.keepalive_timeout,
        ttl_dns_cache=config.ttl_dns_cache,
        use_dns_cache=config.ttl_dns_cache != 0,
        ssl=_ssl(config),
    )
    ours = {
        "base_url": config.base_url,
        "headers": config.headers,
        "timeout": aiohttp.ClientTimeout(
            total=config.timeout,
            sock_connect=config.connect_timeout,
            sock_read=config.read_timeout,
            # TIMEOUT to the millisecond: aiohttp would round 5 s or more up to a whole second.
            ceil_threshold=math.inf,
        ),
        "connector": connector,
        "connector_owner": True,
        # A session is shared by every request a worker serves: a cookie set
        # by an upstream for one user must never be sent on behalf of another.
        "cookie_jar": aiohttp.CookieJar()
        if config.cookies == "shared"
        else aiohttp.DummyCookieJar(),
        "raise_for_status": config.raise_for_status,
        "trust_env": config.trust_env,
    }
    guard = {"middlewares": [], "trace_configs": [], **origins.aiohttp_options(config)}
    guard["middlewares"] = [*guard["middlewares"], traced.middleware]
    session = aiohttp.ClientSession(**_keywords(config, ours, guard))
    return metrics.attach(session, traced.pool)


def httpx_client(config: ClientConfig) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with the options of ``config`` (needs the ``httpx`` extra).

    httpx has no total timeout and no per-host limit: ``TIMEOUT`` bounds each
    phase (connect, read, write, waiting for a pooled connection) that
    ``CONNECT_TIMEOUT`` or ``READ_TIMEOUT`` does not, and ``LIMIT_PER_HOST`` is
    not used. ``TTL_DNS_CACHE`` is not used either: httpx does not cache DNS.
    Origins are bound as for ``aiohttp_session``.
    """
    import httpx

    origins.check_options(config)
    hooks = origins.httpx_event_hooks(config)
    traced = tracing.Httpx(config)  # counts the pool, as for aiohttp
    hooks["request"].append(traced.hook)
    if config.raise_for_status:
        hooks["response"].append(_raise_for_status)
    ours = {
        "base_url": config.base_url or "",
        "headers": dict(config.headers),
        "timeout": httpx.Timeout(
            config.timeout,
            connect=config.connect_timeout or config.timeout,
            read=config.read_timeout or config.timeout,
        ),
        "limits": httpx.Limits(
            max_connections=config.limit or None,
            max_keepalive_connections=config.limit or None,
            keepalive_expiry=config.keepalive_timeout,
        ),
        "verify": _ssl(config),
        "cookies": None if config.cookies == "shared" else _no_cookies(),
        "trust_env": config.trust_env,
    }
    client = httpx.AsyncClient(**_keywords(config, ours, {"event_hooks": hooks}))
    return metrics.attach(client, traced.pool)


def _keywords(config: ClientConfig, ours: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """The client's keywords: ``ours``, then ``OPTIONS``, whose middlewares, trace
    configs or event hooks go after those in ``first`` (sessionhub's origin guard).

    Raises ``ImproperlyConfigured`` for an ``OPTIONS`` keyword that clashes with ours.
    """
    keywords = {**ours, **first}
    for key, given in config.options.items():
        where = f"SESSIONHUB[{config.name!r}]['OPTIONS'][{key!r}]"
        if key in ours:
            reference = f"the options ({docs_url('reference/settings')})"
            option = key.upper() if key.upper() in OPTIONS else reference
            raise ImproperlyConfigured(
                f"{where} is set by sessionhub from the client's options: "
                f"use {option} instead, and remove it from OPTIONS."
            )
        ahead = first.get(key)
        if isinstance(ahead, list) and isinstance(given, list | tuple):
            keywords[key] = [*ahead, *given]
        elif isinstance(ahead, dict) and isinstance(given, Mapping):
            kinds = {*ahead, *given}
            keywords[key] = {kind: [*ahead.get(kind, ()), *given.get(kind, ())] for kind in kinds}
        elif ahead is None:
            keywords[key] = given
        else:
            shape = "a list" if isinstance(ahead, list) else "a dict of lists"
            raise ImproperlyConfigured(
                f"{where} must be {shape}, not {type(given).__name__}: sessionhub adds its own."
            )
    return keywords


async def _raise_for_status(response: httpx.Response) -> None:
    response.raise_for_status()


def _ssl(config: ClientConfig) -> ssl.SSLContext | bool:
    if not config.verify:
        return False
    if config.ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=config.ca_bundle)


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that accepts no cookie from any domain, so none is ever sent."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
