"""Run-time errors and settings lookups (the checks are in test_checks.py)."""

from __future__ import annotations

import aiohttp
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import sessionhub
from sessionhub import conf


def test_without_a_setting_default_exists_with_the_defaults() -> None:
    assert conf.client_names() == ["default"]
    assert conf.client_config("default") == conf.ClientConfig(name="default")


def test_configured_options_fill_the_config_and_the_rest_keep_defaults() -> None:
    setting = {"default": {}, "payments": {"TIMEOUT": 2.5, "HEADERS": {"X-Team": "pay"}}}
    with override_settings(SESSIONHUB=setting):
        assert conf.client_names() == ["default", "payments"]
        config = conf.client_config("payments")
    assert config.timeout == 2.5
    assert config.headers == {"X-Team": "pay"}
    assert config.limit_per_host == conf.ClientConfig(name="x").limit_per_host


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
        conf.client_names()


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
        override_settings(SESSIONHUB={"default": {"FACTORY": "tests.test_conf.unclosable"}}),
        pytest.raises(TypeError, match="neither aclose\\(\\) nor close\\(\\)"),
    ):
        sessionhub.get()


def unclosable(config: conf.ClientConfig) -> object:
    return object()


def test_shutdown_settings_fall_back_to_their_defaults_when_wrong() -> None:
    # The check reports them; closing must still happen, with a sane bound.
    assert (conf.close_timeout(), conf.drain_seconds()) == (5.0, 0.0)
    with override_settings(SESSIONHUB_CLOSE_TIMEOUT=-1, SESSIONHUB_DRAIN_SECONDS="3"):
        assert (conf.close_timeout(), conf.drain_seconds()) == (5.0, 0.0)
    with override_settings(SESSIONHUB_CLOSE_TIMEOUT=2, SESSIONHUB_DRAIN_SECONDS=3):
        assert (conf.close_timeout(), conf.drain_seconds()) == (2.0, 3.0)


def test_limit_caps_the_shutdown_settings_in_this_process() -> None:
    try:
        conf.limit({"SESSIONHUB_CLOSE_TIMEOUT": 1.5, "SESSIONHUB_SHUTDOWN_TIMEOUT": 9.0})
        with override_settings(SESSIONHUB_CLOSE_TIMEOUT=4, SESSIONHUB_SHUTDOWN_TIMEOUT=2):
            # A cap lowers a value and never raises one.
            assert (conf.close_timeout(), conf.shutdown_timeout()) == (1.5, 2.0)
    finally:
        conf.limit({})
    with override_settings(SESSIONHUB_CLOSE_TIMEOUT=4):
        assert conf.close_timeout() == 4.0
