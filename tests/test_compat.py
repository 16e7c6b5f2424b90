"""Every read of another library's internals (sessionhub.compat): its shape, and its fallback.

The shape tests fail when an upgrade changes what compat reads: that is the
signal to check the new version and update compat.py and its comments.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from django.dispatch import Signal

from sessionhub import compat
from tests.upstream import Upstream


def receiver(**kwargs: Any) -> None:
    pass


async def async_receiver(**kwargs: Any) -> None:
    pass


def test_djangos_live_receivers_have_the_shape_compat_reads() -> None:
    signal = Signal()
    signal.connect(receiver)
    signal.connect(async_receiver)
    assert compat.live_receivers(signal, object) == ([receiver], [async_receiver])


class OddSignal(Signal):
    def _live_receivers(self, sender: Any) -> Any:  # an unknown future shape
        return {"sync": [], "async": []}


class BrokenSignal(Signal):
    def _live_receivers(self, sender: Any) -> Any:
        raise AttributeError("gone")


@pytest.mark.parametrize("signal", [OddSignal(), BrokenSignal()])
def test_an_unknown_receivers_shape_is_none_not_an_error(signal: Signal) -> None:
    assert compat.live_receivers(signal, object) is None


def test_asyncios_shutdown_flag_has_the_shape_compat_reads() -> None:
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        assert isinstance(loop._asyncgens_shutdown_called, bool)  # type: ignore[attr-defined]
        assert compat.loop_shutting_down(loop) is False
    assert compat.loop_shutting_down(loop) is True


async def test_aiohttp_open_transports_have_the_shape_compat_reads(upstream: Upstream) -> None:
    async with aiohttp.ClientSession() as session:
        assert compat.open_transports(session) == []
        held = asyncio.create_task(session.get(upstream.url_for("/gate")))
        async with asyncio.timeout(10):
            while upstream.waiting < 1:
                await asyncio.sleep(0.01)
        transports = compat.open_transports(session)
        assert len(transports) == 1 and callable(transports[0].abort)
        upstream.release()
        response = await held
        await response.read()
        assert len(compat.open_transports(session)) == 1  # back in the pool


class Odd:
    """A client whose internals are not what compat expects."""

    connector = object()
    _transport = None


class OddConnector:
    _acquired: list[object] = []
    _conns: dict[str, list[object]] = {}


def test_unknown_internals_read_as_unknown_never_raise() -> None:
    assert compat.open_transports(Odd()) == []
    odd = Odd()
    odd.connector = OddConnector()
    assert compat.open_transports(odd) == []
    assert compat.open_transports(object()) == []


class NoFlagLoop:
    """A loop without asyncio's flag (as uvloop's)."""


def test_without_the_flag_a_loop_is_shutting_down_only_inside_an_aclose() -> None:
    loop: Any = NoFlagLoop()
    assert compat.loop_shutting_down(loop) is False  # no task: not shutting down
