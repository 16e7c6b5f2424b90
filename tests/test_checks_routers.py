"""sessionhub.W004 and W005: protocol routers (Channels' ProtocolTypeRouter and the like)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from sessionhub.checks import check_asgi_application


def run_check() -> str:
    output = io.StringIO()
    call_command("check", "--deploy", stdout=output, stderr=output)
    return output.getvalue()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("without_lifespan", "sessionhub.W004"),
        ("wrapped_without_lifespan", "sessionhub.W004"),
        ("plain_http", "sessionhub.W005"),
        ("wrapped_plain_http", "sessionhub.W005"),
        ("plain_lifespan", "sessionhub.W005"),
    ],
)
def test_a_router_without_a_lifespan_for_sessionhub_warns(name: str, expected: str) -> None:
    path = f"tests.checks_routers.{name}"
    with override_settings(ASGI_APPLICATION=path):
        messages = check_asgi_application(None)
        output = run_check()
    assert [message.id for message in messages] == [expected]
    assert path in messages[0].msg
    assert "'lifespan'" in (messages[0].hint or "")
    assert f"({expected})" in output


@pytest.mark.parametrize("name", ["with_lifespan", "own_lifespan", "not_django", "observed"])
def test_a_router_with_a_lifespan_route_does_not_warn(name: str) -> None:
    with override_settings(ASGI_APPLICATION=f"tests.checks_routers.{name}"):
        assert check_asgi_application(None) == []


def test_the_plain_handler_inside_sentry_and_opentelemetry_warns() -> None:
    with override_settings(ASGI_APPLICATION="tests.checks_routers.observed_plain"):
        assert [message.id for message in check_asgi_application(None)] == ["sessionhub.W001"]
