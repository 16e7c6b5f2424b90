"""A client's requests and HEADERS stay with its origins, for aiohttp and httpx clients.

Two real upstreams on two loopback origins (two ports of 127.0.0.1): ``home``
redirects to ``other`` on request, and both record the headers they receive.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import pytest
from aiohttp import web
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import sessionhub
from sessionhub import origins
from sessionhub.checks import check_settings
from sessionhub.options import ClientConfig
from tests.threads import loop_thread
from tests.upstream import Upstream, running_upstream
from tests.views import fetch_json

FACTORIES = {
    "aiohttp": "sessionhub.factories.aiohttp_session",
    "httpx": "sessionhub.factories.httpx_client",
    "own-aiohttp": "tests.test_origins.own_aiohttp_session",
    "own-httpx": "tests.test_origins.own_httpx_client",
}
HEADERS = {"X-Api-Key": "key-for-home", "Authorization": "Bearer for-home"}


def own_aiohttp_session(config: ClientConfig) -> aiohttp.ClientSession:
    """A FACTORY of one's own that binds origins with the documented helper."""
    return aiohttp.ClientSession(
        base_url=config.base_url, headers=config.headers, **origins.aiohttp_options(config)
    )


def own_httpx_client(config: ClientConfig) -> httpx.AsyncClient:
    """The same with httpx."""
    return httpx.AsyncClient(
        base_url=config.base_url or "",
        headers=dict(config.headers),
        event_hooks=origins.httpx_event_hooks(config),
        follow_redirects=True,
    )


@contextmanager
def running_redirector() -> Iterator[Upstream]:
    """An upstream whose ``/to?url=`` answers 302 to ``url``, and ``/echo`` echoes headers."""
    upstream = Upstream()

    async def redirect(request: web.Request) -> web.Response:
        upstream.requests += 1
        upstream.headers.append(dict(request.headers))
        raise web.HTTPFound(request.query["url"])

    async def echo(request: web.Request) -> web.Response:
        upstream.requests += 1
        upstream.headers.append(dict(request.headers))
        return web.json_response({"path": request.path, "headers": dict(request.headers)})

    async def serve(ready: Callable[[], None], stop: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_get("/to", redirect)
        app.router.add_get("/echo", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            upstream.port = runner.addresses[0][1]
            ready()
            await stop.wait()
        finally:
            await runner.cleanup()

    with loop_thread("redirector", serve):
        yield upstream


@pytest.fixture(params=list(FACTORIES))
def factory(request: pytest.FixtureRequest) -> str:
    return FACTORIES[request.param]


@pytest.fixture
def home() -> Iterator[Upstream]:
    with running_redirector() as upstream:
        yield upstream


@pytest.fixture
def other() -> Iterator[Upstream]:
    with running_upstream() as upstream:
        yield upstream


def origin(upstream: Upstream) -> str:
    return upstream.url_for("")


def redirect(home: Upstream, to: str) -> str:
    return home.url_for(f"/to?url={quote(to, safe='')}")


def client(factory: str, home: Upstream, name: str = "api", **options: Any) -> Any:
    """Client ``name`` with HEADERS, its BASE_URL at ``home`` unless ``options`` say otherwise."""
    options = {"FACTORY": factory, "HEADERS": HEADERS, "BASE_URL": home.url_for("/"), **options}
    if factory == FACTORIES["httpx"]:
        # httpx follows no redirect unless told to (aiohttp follows them).
        options["OPTIONS"] = {"follow_redirects": True, **options.get("OPTIONS", {})}
    if options["BASE_URL"] is None:
        del options["BASE_URL"]
    with override_settings(SESSIONHUB={"default": {}, name: options}):
        return sessionhub.get(name)


def without_home_headers(headers: dict[str, str]) -> bool:
    return not {"X-Api-Key", "Authorization"} & set(headers)


async def test_requests_to_the_base_url_s_origin_carry_the_headers(
    factory: str, home: Upstream
) -> None:
    body = await fetch_json(client(factory, home), "echo")
    assert body["headers"]["X-Api-Key"] == "key-for-home"


async def test_a_request_to_another_origin_fails_before_anything_is_sent(
    factory: str, home: Upstream, other: Upstream
) -> None:
    api = client(factory, home)
    with pytest.raises(origins.OriginNotAllowedError) as info:
        await fetch_json(api, other.url_for("/echo?key=secret"))
    assert other.requests == 0
    message = str(info.value)
    assert f"refused to send a request to {origin(other)}:" in message
    assert f"its BASE_URL binds it, and its HEADERS, to {origin(home)}" in message
    assert f"add {origin(other)!r} to SESSIONHUB['api']['ALLOWED_ORIGINS']" in message
    assert "secret" not in message
    assert isinstance(info.value, sessionhub.SessionhubError)
    # The client still works for its own origin.
    assert (await fetch_json(api, "echo"))["path"] == "/echo"


async def test_a_redirect_to_another_origin_fails_before_it_is_followed(
    factory: str, home: Upstream, other: Upstream
) -> None:
    api = client(factory, home)
    with pytest.raises(origins.OriginNotAllowedError, match="refused to send a request to"):
        await fetch_json(api, redirect(home, other.url_for("/echo")))
    assert (home.requests, other.requests) == (1, 0)


async def test_allowed_origins_are_reached_and_redirects_to_them_drop_the_headers(
    factory: str, home: Upstream, other: Upstream
) -> None:
    api = client(factory, home, ALLOWED_ORIGINS=[origin(other)])
    # Called directly, an allowed origin gets the client's headers ...
    direct = await fetch_json(api, other.url_for("/echo"))
    assert direct["headers"]["X-Api-Key"] == "key-for-home"
    # ... but not when the home upstream redirects there.
    redirected = await fetch_json(api, redirect(home, other.url_for("/echo")))
    assert redirected["path"] == "/echo"
    assert without_home_headers(redirected["headers"])
    assert home.headers[-1]["X-Api-Key"] == "key-for-home"
    assert (home.requests, other.requests) == (1, 2)


async def test_a_client_without_base_url_drops_its_headers_on_a_redirect_to_another_origin(
    factory: str, home: Upstream, other: Upstream
) -> None:
    api = client(factory, home, BASE_URL=None)
    redirected = await fetch_json(api, redirect(home, other.url_for("/echo")))
    assert without_home_headers(redirected["headers"])
    assert home.headers[-1]["X-Api-Key"] == "key-for-home"
    # The next request, to the same origin, is not taken for a redirect.
    again = await fetch_json(api, other.url_for("/echo"))
    assert again["headers"]["X-Api-Key"] == "key-for-home"


async def test_a_redirect_within_the_origin_keeps_the_headers(
    factory: str, home: Upstream
) -> None:
    api = client(factory, home)
    body = await fetch_json(api, redirect(home, home.url_for("/echo")))
    assert body["headers"]["X-Api-Key"] == "key-for-home"
    assert home.requests == 2


async def test_a_star_allows_any_origin(factory: str, home: Upstream, other: Upstream) -> None:
    api = client(factory, home, ALLOWED_ORIGINS=["*"])
    assert (await fetch_json(api, other.url_for("/echo")))["path"] == "/echo"
    redirected = await fetch_json(api, redirect(home, other.url_for("/echo")))
    assert without_home_headers(redirected["headers"])


async def test_allowed_origins_without_base_url_are_the_only_ones_reached(
    home: Upstream, other: Upstream
) -> None:
    api = client(FACTORIES["aiohttp"], home, BASE_URL=None, ALLOWED_ORIGINS=[origin(other)])
    assert (await fetch_json(api, other.url_for("/echo")))["path"] == "/echo"
    with pytest.raises(origins.OriginNotAllowedError, match="its ALLOWED_ORIGINS do not list it"):
        await fetch_json(api, home.url_for("/echo"))
    # An IPv6 origin is shown as a URL writes it.
    with pytest.raises(origins.OriginNotAllowedError, match=r"to http://\[::1\]:9:"):
        await fetch_json(api, "http://[::1]:9/")
    assert home.requests == 0


async def test_a_client_without_headers_is_bound_to_its_origin_all_the_same(
    factory: str, home: Upstream, other: Upstream
) -> None:
    api = client(factory, home, HEADERS={})
    assert (await fetch_json(api, redirect(home, home.url_for("/echo"))))["path"] == "/echo"
    with pytest.raises(origins.OriginNotAllowedError):
        await fetch_json(api, redirect(home, other.url_for("/echo")))
    assert other.requests == 0


async def test_a_client_without_base_url_or_headers_gets_no_guard(upstream: Upstream) -> None:
    config = ClientConfig(name="plain")
    assert origins.aiohttp_options(config) == {}
    assert origins.httpx_event_hooks(config) == {"request": [], "response": []}
    bound = origins.aiohttp_options(ClientConfig(name="bound", base_url=upstream.url_for("/")))
    # Bound without HEADERS: a call's own headers are kept from other origins all the same.
    assert list(bound) == ["middlewares", "trace_configs"]


async def test_middlewares_and_hooks_given_in_options_run_after_the_guard(
    home: Upstream, other: Upstream
) -> None:
    seen: list[str] = []

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        seen.append(str(request.url))
        return await handler(request)

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    aio = client(FACTORIES["aiohttp"], home, OPTIONS={"middlewares": [middleware]})
    hx = client(FACTORIES["httpx"], home, "hx", OPTIONS={"event_hooks": {"request": [hook]}})
    for api in (aio, hx):
        await fetch_json(api, "echo")
        with pytest.raises(origins.OriginNotAllowedError):
            await fetch_json(api, other.url_for("/echo"))
    # Each saw its own-origin request; the guard stopped the other first.
    assert seen == [home.url_for("/echo")] * 2


# Proxies: the "other" upstream stands in for a proxy. A plain-HTTP proxy gets
# the request in absolute form, which the recording upstream answers itself,
# so what it records is what a proxy there would have seen.


async def test_a_per_request_proxy_elsewhere_is_refused_before_anything_is_sent(
    home: Upstream, other: Upstream
) -> None:
    api = client(FACTORIES["aiohttp"], home)
    proxy = f"http://user:s3cr3t@127.0.0.1:{other.port}"
    with pytest.raises(origins.OriginNotAllowedError) as info:
        async with api.get("echo", proxy=proxy):
            pass
    assert (home.requests, other.requests) == (0, 0)
    message = str(info.value)
    assert f"to {origin(home)} through the proxy {origin(other)}:" in message
    assert f"add {origin(other)!r} to SESSIONHUB['api']['ALLOWED_ORIGINS']" in message
    assert "s3cr3t" not in message and "user" not in message


async def test_a_proxy_at_an_allowed_origin_carries_the_request(
    home: Upstream, other: Upstream
) -> None:
    api = client(FACTORIES["aiohttp"], home, ALLOWED_ORIGINS=[origin(other)])
    async with api.get("echo", proxy=origin(other)) as response:
        body = await response.json()
    # The proxy got the request for home, with the client's headers.
    assert (home.requests, other.requests) == (0, 1)
    assert body["headers"]["Host"] == f"127.0.0.1:{home.port}"
    assert body["headers"]["X-Api-Key"] == "key-for-home"


async def test_the_environment_s_proxy_is_the_operator_s_choice_under_trust_env(
    home: Upstream, other: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", origin(other))
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    api = client(FACTORIES["aiohttp"], home, TRUST_ENV=True)
    assert (await fetch_json(api, "echo"))["headers"]["X-Api-Key"] == "key-for-home"
    assert (home.requests, other.requests) == (0, 1)
    # Without TRUST_ENV the same proxy, given by the call, is refused.
    strict = client(FACTORIES["aiohttp"], home, "strict")
    with pytest.raises(origins.OriginNotAllowedError, match="through the proxy"):
        async with strict.get("echo", proxy=origin(other)):
            pass


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_proxy_in_options_must_be_at_an_allowed_origin(
    kind: str, home: Upstream, other: Upstream
) -> None:
    options: dict[str, Any] = {"OPTIONS": {"proxy": f"http://user:s3cr3t@127.0.0.1:{other.port}"}}
    with pytest.raises(ImproperlyConfigured) as info:
        client(FACTORIES[kind], home, **options)
    message = str(info.value)
    assert message.startswith("SESSIONHUB['api']['OPTIONS']['proxy']: sessionhub client 'api'")
    assert f"through the proxy {origin(other)}: its BASE_URL binds it" in message
    assert "s3cr3t" not in message
    # Allowed, the proxy carries the client's requests, with their headers.
    api = client(FACTORIES[kind], home, ALLOWED_ORIGINS=[origin(other)], **options)
    assert (await fetch_json(api, "echo"))["headers"]["X-Api-Key"] == "key-for-home"
    assert (home.requests, other.requests) == (0, 1)


@pytest.mark.parametrize("key", ["mounts", "transport"])
async def test_httpx_mounts_and_transports_are_refused_on_a_bound_client(
    key: str, home: Upstream
) -> None:
    transport = httpx.AsyncHTTPTransport()
    value = {"all://": transport} if key == "mounts" else transport
    try:
        with pytest.raises(ImproperlyConfigured, match=rf"\['OPTIONS'\]\[{key!r}\] may send"):
            client(FACTORIES["httpx"], home, OPTIONS={key: value})
        # A client that may send anywhere may route its requests as it likes.
        api = client(FACTORIES["httpx"], home, ALLOWED_ORIGINS=["*"], OPTIONS={key: value})
        assert (await fetch_json(api, "echo"))["path"] == "/echo"
    finally:
        await transport.aclose()


async def test_a_call_s_own_headers_do_not_follow_a_redirect_to_another_origin(
    factory: str, home: Upstream, other: Upstream
) -> None:
    api = client(factory, home, ALLOWED_ORIGINS=[origin(other)])
    mine = {"X-Other-Key": "key-for-this-call", "Authorization": "Bearer for-this-call"}
    url = redirect(home, other.url_for("/echo"))
    if isinstance(api, aiohttp.ClientSession):
        async with api.get(url, headers=mine) as response:
            redirected = await response.json()
    else:
        redirected = (await api.get(url, headers=mine)).json()
    sent, received = home.headers[-1], redirected["headers"]
    assert sent["X-Other-Key"] == "key-for-this-call" and sent["X-Api-Key"] == "key-for-home"
    # Only what describes the request crossed to the other origin.
    assert {name.lower() for name in received} <= origins.SAFE_ON_OTHER_ORIGINS
    assert received["Host"] == f"127.0.0.1:{other.port}"
    # Within the origin, the call's headers follow the redirect.
    if isinstance(api, aiohttp.ClientSession):
        async with api.get(redirect(home, home.url_for("/echo")), headers=mine) as response:
            same = await response.json()
    else:
        same = (await api.get(redirect(home, home.url_for("/echo")), headers=mine)).json()
    assert same["headers"]["X-Other-Key"] == "key-for-this-call"


@pytest.mark.parametrize(
    ("url", "suggested"),
    [
        ("http://[::1]:9/", "http://[::1]:9"),
        ("https://files.example:443/", "https://files.example"),
        ("HTTP://Files.Example:8080/x", "http://files.example:8080"),
        ("//127.0.0.1:8001/x", None),
    ],
)
async def test_a_refusal_suggests_only_an_entry_the_check_accepts(
    url: str, suggested: str | None, home: Upstream
) -> None:
    api = client(FACTORIES["aiohttp"], home)
    with pytest.raises(origins.OriginNotAllowedError) as info:
        await fetch_json(api, url)
    entries = re.findall(r"add '([^']*)' to", str(info.value))
    assert entries == ([suggested] if suggested else [])
    if suggested is None:
        assert "Only http:// and https:// origins can be allowed" in str(info.value)
        return
    setting = {"default": {"BASE_URL": home.url_for("/"), "ALLOWED_ORIGINS": entries}}
    with override_settings(SESSIONHUB=setting):
        assert check_settings(None) == []


async def test_the_middleware_alone_binds_origins_but_cannot_tell_redirects(
    home: Upstream, other: Upstream
) -> None:
    # A FACTORY that keeps only the middleware of aiohttp_options(): without the
    # trace config every hop is checked, but none is known for a redirect.
    config = ClientConfig(name="api", base_url=home.url_for("/"), headers=HEADERS)
    (middleware,) = origins.aiohttp_options(config)["middlewares"]
    async with aiohttp.ClientSession(headers=HEADERS, middlewares=[middleware]) as session:
        assert (await fetch_json(session, home.url_for("/echo")))["path"] == "/echo"
        with pytest.raises(origins.OriginNotAllowedError):
            await fetch_json(session, other.url_for("/echo"))
    assert other.requests == 0
