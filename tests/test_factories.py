"""Named clients built by the aiohttp and httpx factories, against real upstreams."""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import trustme
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, override_settings

import sessionhub
from sessionhub.testing import lifespan, open_clients
from tests.upstream import Upstream, running_upstream
from tests.views import fetch_json

FACTORIES = {
    "aiohttp": "sessionhub.factories.aiohttp_session",
    "httpx": "sessionhub.factories.httpx_client",
}


@pytest.fixture(params=list(FACTORIES))
def factory(request: pytest.FixtureRequest) -> str:
    return FACTORIES[request.param]


@pytest.fixture
def second_upstream() -> Iterator[Upstream]:
    with running_upstream() as upstream:
        yield upstream


async def test_each_named_client_reaches_its_upstream_with_its_headers(
    factory: str, upstream: Upstream, second_upstream: Upstream
) -> None:
    setting = {
        "default": {"FACTORY": factory},
        "payments": {
            "FACTORY": factory,
            "BASE_URL": upstream.url_for("/echo/payments/"),
            "HEADERS": {"Authorization": "Bearer pay", "X-Team": "payments"},
            "TIMEOUT": 4,
        },
        "search": {
            "FACTORY": factory,
            "BASE_URL": second_upstream.url_for("/echo/search/"),
            "HEADERS": {"X-Team": "search"},
            "TIMEOUT": 7,
        },
    }
    with override_settings(SESSIONHUB=setting):
        payments, search = sessionhub.get("payments"), sessionhub.get("search")
        paid = await fetch_json(payments, "charge")
        found = await fetch_json(search, "q")
    assert payments is not search
    assert paid["path"] == "/echo/payments/charge"
    assert found["path"] == "/echo/search/q"
    assert (paid["headers"]["X-Team"], paid["headers"]["Authorization"]) == (
        "payments",
        "Bearer pay",
    )
    assert found["headers"]["X-Team"] == "search"
    assert "Authorization" not in found["headers"]
    assert (upstream.requests, second_upstream.requests) == (1, 1)
    if isinstance(payments, aiohttp.ClientSession):
        assert (payments.timeout.total, search.timeout.total) == (4, 7)
    else:
        assert (payments.timeout.pool, search.timeout.pool) == (4, 7)


@pytest.mark.parametrize("option", ["READ_TIMEOUT", "TIMEOUT"])
async def test_a_timeout_fires_at_the_configured_value(
    factory: str, option: str, upstream: Upstream
) -> None:
    with override_settings(SESSIONHUB={"default": {"FACTORY": factory, option: 0.3}}):
        client = sessionhub.get()
    started = time.perf_counter()
    with pytest.raises((TimeoutError, httpx.TimeoutException)):
        await fetch_json(client, upstream.url_for("/slow?seconds=3"))
    elapsed = time.perf_counter() - started
    assert 0.28 <= elapsed < 1.0
    # The client is not poisoned: the next request on it succeeds.
    assert (await fetch_json(client, upstream.url))["ok"] is True


@pytest.mark.parametrize("raise_for_status", [True, False])
async def test_raise_for_status_turns_an_error_status_into_an_exception(
    factory: str, raise_for_status: bool, upstream: Upstream
) -> None:
    options = {"FACTORY": factory, "RAISE_FOR_STATUS": raise_for_status}
    with override_settings(SESSIONHUB={"default": options}):
        client = sessionhub.get()
    missing = upstream.url_for("/missing")
    if raise_for_status:
        with pytest.raises((aiohttp.ClientResponseError, httpx.HTTPStatusError)) as info:
            await client.get(missing)
        assert "404" in str(info.value)
    elif isinstance(client, aiohttp.ClientSession):
        async with client.get(missing) as response:
            assert response.status == 404
    else:
        assert (await client.get(missing)).status_code == 404


@pytest.mark.parametrize(("cookies", "carried"), [("none", False), ("shared", True)])
async def test_a_cookie_set_for_one_view_call_reaches_another_only_with_a_shared_jar(
    factory: str, cookies: str, carried: bool, upstream: Upstream
) -> None:
    # localhost, not 127.0.0.1: aiohttp's jar ignores cookies of IP-address
    # hosts, which would hide a shared jar.
    set_cookie = upstream.url_for("/set-cookie?value=user-a", host="localhost")
    echo = upstream.url_for("/echo", host="localhost")
    client = AsyncClient()
    setting = {"default": {}, "api": {"FACTORY": factory, "COOKIES": cookies}}
    with override_settings(SESSIONHUB=setting):
        first = await client.get("/fetch/api/", {"url": set_cookie})  # user A's request
        second = await client.get("/fetch/api/", {"url": echo})  # user B's request
    assert (first.status_code, second.status_code) == (200, 200)
    assert upstream.headers[0].get("Cookie") is None
    assert second.json()["headers"].get("Cookie") == ("sid=user-a" if carried else None)


async def test_the_pool_opens_no_more_connections_than_limit_per_host(
    upstream: Upstream,
) -> None:
    # No TIMEOUT: with one, calls that would wait longer than it allows are
    # refused at once (sessionhub.shedding), and 500 at once on 4 connections
    # may, under a slow tracer.
    with override_settings(SESSIONHUB={"default": {"LIMIT_PER_HOST": 4, "TIMEOUT": None}}):
        session = sessionhub.get()
    async with asyncio.timeout(30):
        bodies = await asyncio.gather(*(fetch_json(session, upstream.url) for _ in range(500)))
    assert len(bodies) == upstream.requests == 500
    assert 1 <= len(upstream.peers) <= 4


async def test_limit_per_host_0_opens_as_many_connections_as_needed(upstream: Upstream) -> None:
    # The contrast that shows the bound above is the setting's doing.
    with override_settings(SESSIONHUB={"default": {"LIMIT_PER_HOST": 0, "LIMIT": 0}}):
        session = sessionhub.get()
    async with asyncio.timeout(30):
        await asyncio.gather(*(fetch_json(session, upstream.url) for _ in range(200)))
    assert len(upstream.peers) > 4


HTTPX = {"default": {}, "search": {"FACTORY": FACTORIES["httpx"]}}


@override_settings(SESSIONHUB=HTTPX)
def test_an_httpx_client_is_closed_with_aclose_at_loop_end(upstream: Upstream) -> None:
    async def main() -> Any:
        client = sessionhub.get("search")
        await fetch_json(client, upstream.url)
        assert sessionhub.get("search") is client
        return client

    first, second = asyncio.run(main()), asyncio.run(main())
    assert isinstance(first, httpx.AsyncClient)
    assert first is not second
    assert first.is_closed and second.is_closed
    assert upstream.requests == 2


@override_settings(SESSIONHUB=HTTPX)
async def test_an_httpx_client_is_closed_at_lifespan_finish(upstream: Upstream) -> None:
    async with lifespan():
        # Every configured client is built at startup.
        loop = asyncio.get_running_loop()
        built = sorted(entry.name for entry in open_clients() if entry.loop is loop)
        assert built == ["default", "search"]
        client = sessionhub.get("search")
        await fetch_json(client, upstream.url)
        assert not client.is_closed
    assert client.is_closed


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_upstream(certificate_authority: trustme.CA) -> Iterator[Upstream]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("localhost").configure_cert(context)
    with running_upstream(ssl_context=context) as upstream:
        yield upstream


@pytest.mark.parametrize(
    ("options", "trusted"),
    [({}, False), ({"CA_BUNDLE": "ca.pem"}, True), ({"VERIFY": False}, True)],
)
async def test_tls_verification_follows_verify_and_ca_bundle(
    factory: str,
    options: dict[str, Any],
    trusted: bool,
    tls_upstream: Upstream,
    certificate_authority: trustme.CA,
    tmp_path: Path,
) -> None:
    if "CA_BUNDLE" in options:
        certificate_authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        options = {"CA_BUNDLE": str(tmp_path / "ca.pem")}
    url = tls_upstream.url_for("/json", host="localhost").replace("http:", "https:")
    with override_settings(SESSIONHUB={"default": {"FACTORY": factory, **options}}):
        client = sessionhub.get()
    if trusted:
        assert (await fetch_json(client, url))["ok"] is True
    else:
        with pytest.raises((aiohttp.ClientConnectorCertificateError, httpx.ConnectError)):
            await fetch_json(client, url)
        assert tls_upstream.requests == 0


async def test_aiohttp_options_reach_the_session_and_its_connector() -> None:
    options = {
        "BASE_URL": "https://api.example.com/v1/",
        "TIMEOUT": 4,
        "CONNECT_TIMEOUT": 1.5,
        "READ_TIMEOUT": 2,
        "LIMIT": 12,
        "LIMIT_PER_HOST": 6,
        "KEEPALIVE_TIMEOUT": 7,
        "TTL_DNS_CACHE": None,
        "RAISE_FOR_STATUS": True,
        "TRUST_ENV": True,
        "OPTIONS": {"read_bufsize": 2**17},
    }
    with override_settings(SESSIONHUB={"default": options}):
        session: aiohttp.ClientSession = sessionhub.get()
    connector = session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    assert str(session._base_url) == "https://api.example.com/v1/"
    assert session.timeout == aiohttp.ClientTimeout(
        total=4, sock_connect=1.5, sock_read=2, ceil_threshold=math.inf
    )
    assert (connector.limit, connector.limit_per_host) == (12, 6)
    assert connector._keepalive_timeout == 7
    assert connector.use_dns_cache and connector._cached_hosts._ttl is None
    assert session._raise_for_status is True
    assert session.trust_env is True
    assert session._read_bufsize == 2**17
    assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)


async def test_trust_env_sends_requests_through_the_environment_s_proxy(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The local upstream stands in for a proxy: it answers the absolute-form
    # request for a host that does not exist.
    monkeypatch.setenv("HTTP_PROXY", upstream.url_for("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with override_settings(SESSIONHUB={"default": {"TRUST_ENV": True}}):
        session = sessionhub.get()
    body = await fetch_json(session, "http://upstream.sessionhub.invalid/echo")
    assert body["path"] == "/echo"
    assert body["headers"]["Host"] == "upstream.sessionhub.invalid"


CLASHES = [
    ("aiohttp", {"timeout": 5}, "['timeout'] is set by sessionhub from the client's options"),
    ("httpx", {"timeout": 5}, "['timeout'] is set by sessionhub from the client's options"),
    ("aiohttp", {"headers": {"Authorization": "Bearer s3cr3t"}}, "use HEADERS instead"),
    ("httpx", {"headers": {"Authorization": "Bearer s3cr3t"}}, "use HEADERS instead"),
    ("aiohttp", {"connector": None}, "use the options (https://"),
    ("aiohttp", {"connector_owner": False}, "use the options (https://"),
    ("httpx", {"limits": None}, "use the options (https://"),
    ("aiohttp", {"middlewares": None}, "['middlewares'] must be a list, not NoneType"),
    ("aiohttp", {"trace_configs": "t"}, "['trace_configs'] must be a list, not str"),
    ("httpx", {"event_hooks": []}, "['event_hooks'] must be a dict of lists, not list"),
]


@pytest.mark.parametrize(("client", "options", "fragment"), CLASHES)
async def test_an_options_keyword_that_the_factory_sets_itself_is_refused_when_built(
    client: str, options: dict[str, Any], fragment: str
) -> None:
    # The factory refuses the keywords it sets, once, when it builds the client.
    setting = {"default": {"FACTORY": FACTORIES[client], "OPTIONS": options}}
    with override_settings(SESSIONHUB=setting), pytest.raises(ImproperlyConfigured) as info:
        sessionhub.get()
    message = str(info.value)
    assert message.startswith("SESSIONHUB['default']['OPTIONS'][")
    assert fragment in message
    assert "s3cr3t" not in message


async def test_middlewares_trace_configs_and_event_hooks_in_options_are_added(
    factory: str, upstream: Upstream
) -> None:
    seen: list[str] = []

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        seen.append("middleware")
        return await handler(request)

    async def started(session: object, context: object, params: object) -> None:
        seen.append("trace")

    async def hook(request: httpx.Request) -> None:
        seen.append("hook")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    if factory == FACTORIES["aiohttp"]:
        options: dict[str, Any] = {"middlewares": (middleware,), "trace_configs": [trace]}
    else:
        options = {"event_hooks": {"request": [hook], "response": []}}
    with override_settings(SESSIONHUB={"default": {"FACTORY": factory, "OPTIONS": options}}):
        client = sessionhub.get()
    assert (await fetch_json(client, upstream.url))["ok"] is True
    assert seen == (["trace", "middleware"] if factory == FACTORIES["aiohttp"] else ["hook"])
