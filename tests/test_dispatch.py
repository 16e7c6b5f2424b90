"""Bounded dispatch of the lifespan signals (sessionhub.dispatch)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction
from django.dispatch import Signal

from sessionhub import dispatch


class WholeSignal(Signal):
    """A signal whose receivers compat cannot list: dispatch sends it as a whole."""

    def _live_receivers(self, sender: Any) -> Any:
        found = super()._live_receivers(sender)
        if getattr(self, "as_django_has_it", False):
            return found
        self.as_django_has_it = True  # asend_robust() below needs the real answer
        return None


def far() -> float:
    return asyncio.get_running_loop().time() + 10


async def test_when_receivers_cannot_be_listed_the_signal_is_sent_whole() -> None:
    signal = WholeSignal()

    def refuses(**kwargs: Any) -> None:
        raise RuntimeError("no")

    signal.connect(refuses, weak=False)
    failures = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert len(failures) == 1
    assert failures[0].startswith("s receiver tests.test_dispatch.")
    assert "refuses raised RuntimeError: no" in failures[0]


async def test_sent_whole_it_is_still_bounded() -> None:
    signal = WholeSignal()

    async def hangs(**kwargs: Any) -> None:
        await asyncio.Event().wait()

    signal.connect(hangs, weak=False)
    loop = asyncio.get_running_loop()
    failures = await dispatch.send(signal, "s", object, deadline=loop.time() + 0.1, bound="B")
    assert failures == ["s receivers were still running after B and were cancelled"]


class BrokenSend(WholeSignal):
    async def asend_robust(self, sender: Any, **named: Any) -> Any:
        raise AttributeError("Django changed")


async def test_sent_whole_a_broken_dispatch_is_a_failure_not_a_crash() -> None:
    failures = await dispatch.send(BrokenSend(), "s", object, deadline=far(), bound="B")
    assert failures[0].startswith("sending s failed: AttributeError: Django changed")


async def test_a_receiver_that_raises_before_awaiting_is_reported() -> None:
    signal = Signal()

    def not_really_async(**kwargs: Any) -> None:
        raise LookupError("at call time")

    signal.connect(markcoroutinefunction(not_really_async), weak=False)
    failures = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert "raised LookupError: at call time" in failures[0]


async def test_a_receiver_that_cancels_itself_is_reported() -> None:
    signal = Signal()

    async def gives_up(**kwargs: Any) -> None:
        raise asyncio.CancelledError

    signal.connect(gives_up, weak=False)
    failures = await dispatch.send(signal, "s", object, deadline=far(), bound="B")
    assert failures[0].endswith("gives_up was cancelled")


async def test_cancelling_the_dispatch_cancels_the_receivers() -> None:
    signal = Signal()
    cancelled = asyncio.Event()

    async def waits(**kwargs: Any) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    signal.connect(waits, weak=False)
    sending = asyncio.create_task(dispatch.send(signal, "s", object, deadline=far(), bound="B"))
    await asyncio.sleep(0.05)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    async with asyncio.timeout(5):
        await cancelled.wait()


class Unnameable:
    def __call__(self, **kwargs: Any) -> None:
        pass

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError("no attribute may be read")


def test_describe_names_anything_and_never_raises() -> None:
    assert dispatch.describe(Unnameable()) == "<a receiver that cannot be named>"
    assert dispatch.describe(print) == "builtins.print"
