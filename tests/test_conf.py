"""Run-time errors and settings lookups (the checks are in test_checks.py)."""

from __future__ import annotations

from django.test import override_settings

from sessionhub import conf


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
