"""Property: whatever the settings hold, the checks answer, and agree with client building.

Whatever includes values whose own methods raise (``tests.hostile``).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import re
from typing import Any

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils.module_loading import import_string
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessionhub import conf, options
from sessionhub.checks import check_settings
from tests.hostile import HOSTILE, Token, materialize

SHUTDOWN = [
    "SESSIONHUB_CLOSE_TIMEOUT",
    "SESSIONHUB_STARTUP_TIMEOUT",
    "SESSIONHUB_SHUTDOWN_TIMEOUT",
    "SESSIONHUB_DRAIN_SECONDS",
]
# Values that sit near an edge of some check, mixed in so that the examples
# reach past the type checks.
EDGES = st.sampled_from(
    [
        0,
        -1,
        1,
        0.5,
        86_400,
        86_401,
        3_600,
        10**400,
        -(10**400),
        float("inf"),
        float("nan"),
        "",
        "*",
        "none",
        "shared",
        "http://[::1/",
        "http://:80/",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:8000/",
        "https://api.example.com/v1/",
        "https://u:p@api.example.com/",
        "https://api.example.com",
        "sessionhub.factories.aiohttp_session",
        "sessionhub.factories.httpx_client",
        "sessionhub.validation.DEFAULT_FACTORY",
        "tests.raising_module.factory",
        "no_such_module.factory",
        "X-Api-Key",
        "a\r\nb",
        __file__,
    ]
)
# Values whose iteration, comparison, hashing, str() or repr() raise (made fresh).
HOSTILE_VALUES = st.sampled_from(sorted(HOSTILE)).map(Token)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=10),
    EDGES,
    HOSTILE_VALUES,
)
KEYS = st.one_of(
    st.sampled_from([*options.OPTIONS, "default", "payments"]),
    st.text(max_size=10),
    st.integers(),
    st.none(),
    st.tuples(st.integers()),
    st.just(Token("str")),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(st.sampled_from(["X-Api-Key", "Accept", "a b"]), children, max_size=3),
    ),
    max_leaves=12,
)
# Any value where an option's value goes, with a lean towards the edges.
OPTION_VALUES = st.one_of(
    EDGES,
    HOSTILE_VALUES,
    VALUES,
    st.lists(EDGES, max_size=3),
    st.dictionaries(st.sampled_from(["X-Api-Key", "Accept"]), SCALARS, max_size=2),
)
CLIENT = st.dictionaries(
    st.sampled_from(list(options.OPTIONS)) | st.text(max_size=8), OPTION_VALUES, max_size=5
)
SECONDS = st.floats(min_value=0.001, max_value=86_400)
# Options that are each valid (or close to it), to reach the checks that
# compare options and the building of clients.
NEAR_VALID = {
    "BASE_URL": st.sampled_from([None, "http://127.0.0.1:8000/", "https://api.example.com/v1/"]),
    "HEADERS": st.dictionaries(
        st.sampled_from(["X-Api-Key", "Accept", "User-Agent"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=10),
        max_size=2,
    ),
    "TIMEOUT": st.none() | SECONDS,
    "CONNECT_TIMEOUT": st.none() | SECONDS,
    "READ_TIMEOUT": st.none() | SECONDS,
    "LIMIT": st.integers(0, 10**6),
    "LIMIT_PER_HOST": st.integers(0, 10**6),
    "KEEPALIVE_TIMEOUT": SECONDS,
    "TTL_DNS_CACHE": st.none() | st.integers(0, 10**6),
    "VERIFY": st.booleans(),
    "CA_BUNDLE": st.sampled_from([None, __file__]),
    "RAISE_FOR_STATUS": st.booleans(),
    "TRUST_ENV": st.booleans(),
    "COOKIES": st.sampled_from(["none", "shared"]),
    "ALLOWED_ORIGINS": st.lists(
        st.sampled_from(
            ["*", "https://a.example", "http://127.0.0.1:8000", "https://a.example/x"]
        ),
        max_size=2,
    ),
    "OPTIONS": st.sampled_from([{}, {"timeout": 1}, {"bogus": 1}, {"middlewares": None}]),
    "FACTORY": st.sampled_from(
        ["sessionhub.factories.aiohttp_session", "sessionhub.factories.httpx_client"]
    ),
}
NEAR_VALID_CLIENT = st.fixed_dictionaries(
    {}, optional={name: strategy | EDGES for name, strategy in NEAR_VALID.items()}
)
SETTING = st.one_of(
    VALUES,
    HOSTILE_VALUES,
    st.dictionaries(KEYS, VALUES, max_size=3),
    st.fixed_dictionaries({"default": CLIENT}, optional={"payments": CLIENT}),
    st.fixed_dictionaries({"default": NEAR_VALID_CLIENT}, optional={"payments": CLIENT}),
    st.fixed_dictionaries({"default": st.fixed_dictionaries({}, optional=NEAR_VALID)}),
)
SHUTDOWN_VALUES = st.floats(min_value=0, max_value=4_000) | VALUES


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    setting=SETTING,
    shutdown=st.fixed_dictionaries({}, optional=dict.fromkeys(SHUTDOWN, SHUTDOWN_VALUES)),
)
def test_check_answers_for_any_value_and_agrees_with_client_building(
    setting: Any, shutdown: dict[str, Any]
) -> None:
    setting, shutdown = materialize(setting), materialize(shutdown)
    with override_settings(SESSIONHUB=setting, **shutdown):
        messages = check_settings(None)
        assert all(isinstance(message, CheckMessage) for message in messages)
        serious = {message.id for message in messages if message.is_serious()}
        for check_id in sorted({str(message.id) for message in messages}):
            event(f"reported {check_id}")
        # The worker's accessors are finite whatever the settings.
        timings = [conf.close_timeout(), conf.startup_timeout(), conf.shutdown_timeout()]
        timings.append(conf.drain_seconds())
        assert all(math.isfinite(value) and value >= 0 for value in timings)
        assert bool(conf.shutdown_problems()) == ("sessionhub.E009" in serious)
        if type(setting) is not dict:
            return
        for name in setting:
            # A name is a str or E001 (reported), and looked up as its plain value.
            name = str.__str__(name) if isinstance(name, str) else name
            try:
                config = options.client_config(name)
            except ImproperlyConfigured as exc:
                # Refused with ids that the check reported too.
                raised = set(re.findall(r"\((sessionhub\.E\d{3})\)", str(exc)))
                assert raised, f"client_config({name!r}) raised without an id: {exc}"
                assert raised <= serious, f"check did not report {raised - serious}: {exc}"
                continue
            except KeyError:
                raise AssertionError(f"client_config({name!r}) raised KeyError") from None
            # A client the check let through builds, and closes.
            event("built a client the check let through")
            _build_and_close(config)


def _build_and_close(config: options.ClientConfig) -> None:
    if config.options:
        return  # keyword values are the client's to judge
    factory = import_string(config.factory)

    async def main() -> None:
        client = factory(config)
        closing = getattr(client, "aclose", None) or client.close
        result = closing()
        if inspect.isawaitable(result):
            await result

    asyncio.run(main())
