"""SESSIONHUB (sessionhub.options): the named clients, their defaults, and errors at get()."""

from __future__ import annotations

import aiohttp
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import sessionhub
from sessionhub import options


def test_without_a_setting_default_exists_with_the_defaults() -> None:
    assert options.client_names() == ["default"]
    assert options.client_config("default") == options.ClientConfig(name="default")


def test_configured_options_fill_the_config_and_the_rest_keep_defaults() -> None:
    setting = {"default": {}, "payments": {"TIMEOUT": 2.5, "HEADERS": {"X-Team": "pay"}}}
    with override_settings(SESSIONHUB=setting):
        assert options.client_names() == ["default", "payments"]
        config = options.client_config("payments")
    assert config.timeout == 2.5
    assert config.headers == {"X-Team": "pay"}
    assert config.limit_per_host == options.ClientConfig(name="x").limit_per_host


async def test_an_unknown_name_is_named_with_the_configured_ones() -> None:
    with (
        override_settings(SESSIONHUB={"default": {}, "payments": {}}),
        pytest.raises(sessionhub.UnknownClientError) as info,
    ):
        sessionhub.get("paymnets")
    assert str(info.value).startswith("sessionhub.get('paymnets'): there is no client named")
    assert "the configured clients are 'default', 'payments'" in str(info.value)


async def test_a_bad_setting_fails_get_with_the_check_s_message() -> None:
    with (
        override_settings(SESSIONHUB={"default": {"TIMEOUT": "10"}}),
        pytest.raises(ImproperlyConfigured, match=r"must be a number .*\(sessionhub\.E003\)"),
    ):
        sessionhub.get()


async def test_a_setting_that_is_not_a_dict_fails_get() -> None:
    with (
        override_settings(SESSIONHUB=[("default", {})]),
        pytest.raises(ImproperlyConfigured, match=r"sessionhub\.E001"),
    ):
        sessionhub.get()
    with (
        override_settings(SESSIONHUB=[("default", {})]),
        pytest.raises(ImproperlyConfigured, match=r"not list\. .*\(sessionhub\.E001\)"),
    ):
        options.client_names()


async def test_warnings_do_not_stop_a_client_being_built() -> None:
    with override_settings(SESSIONHUB={"default": {"VERIFY": False}}):
        session: aiohttp.ClientSession = sessionhub.get()
    assert not session.closed


async def test_settings_are_read_when_a_client_is_built() -> None:
    # No client exists on this loop yet: the override applies to the first one.
    with override_settings(SESSIONHUB={"default": {"TIMEOUT": 1.5}}):
        session: aiohttp.ClientSession = sessionhub.get()
    assert session.timeout.total == 1.5
    # The client lives as long as its loop; later settings do not change it.
    with override_settings(SESSIONHUB={"default": {"TIMEOUT": 9}}):
        assert sessionhub.get() is session


async def test_a_factory_must_return_something_sessionhub_can_close() -> None:
    with (
        override_settings(SESSIONHUB={"default": {"FACTORY": "tests.test_options.unclosable"}}),
        pytest.raises(TypeError, match="neither aclose\\(\\) nor close\\(\\)"),
    ):
        sessionhub.get()


def unclosable(config: options.ClientConfig) -> object:
    return object()
