"""The lifespan, and a Django ASGI handler that speaks the ASGI lifespan protocol.

``run()`` is the lifespan, one async context manager for every driver: the
handler runs it for a server, ``lifespan()`` for a host application or a test.
Entering it is the startup: the configured clients are built, then the
``lifespan_started`` receivers run, then the registered lifespans are entered
in order, all by one deadline, ``SESSIONHUB_STARTUP_TIMEOUT`` away. Leaving it
is the shutdown: the registered lifespans are exited in reverse order, then
the ``lifespan_finished`` receivers run, by one deadline
``SESSIONHUB_SHUTDOWN_TIMEOUT`` away; then the clients are closed by one more,
``SESSIONHUB_CLOSE_TIMEOUT`` away. A failed startup is undone within the same
two shutdown bounds, without ``lifespan_finished``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler

from sessionhub import conf, dispatch, lifecycle, options, registry
from sessionhub.errors import LifespanFailedError, describe_exception, see
from sessionhub.lifespans import Registered
from sessionhub.signals import lifespan_finished, lifespan_started

__all__ = ["LifespanASGIHandler", "get_asgi_application", "lifespan"]

logger = logging.getLogger("sessionhub")

_Receive = Callable[[], Awaitable[Mapping[str, Any]]]
_Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class LifespanASGIHandler(ASGIHandler):
    """Django's ASGI handler plus the lifespan protocol (ASGI lifespan spec 2.0).

    A lifespan scope runs sessionhub's lifespan: startup on
    ``lifespan.startup``, shutdown on ``lifespan.shutdown``. A failed one is
    answered ``lifespan.startup.failed`` or ``lifespan.shutdown.failed`` with
    the reason, and then raised, so that every driver sees it. Every other
    scope goes to Django unchanged.
    """

    async def __call__(self, scope: dict[str, Any], receive: _Receive, send: _Send) -> None:
        if scope["type"] != "lifespan":
            return await super().__call__(scope, receive, send)
        _expect(await receive(), "lifespan.startup")
        phase = "startup"
        try:
            async with run(type(self), scope):
                await send({"type": "lifespan.startup.complete"})
                phase = "shutdown"
                # Raised inside the block: leaving it shuts down first.
                _expect(await receive(), "lifespan.shutdown")
        except LifespanFailedError as exc:
            await send({"type": f"lifespan.{phase}.failed", "message": str(exc)})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def _expect(message: Mapping[str, Any], expected: str) -> None:
    """Raise on any message but ``expected``, as the spec asks of an application."""
    if message["type"] != expected:
        raise ValueError(
            f"sessionhub's lifespan received {message.get('type')!r} where the ASGI lifespan "
            f"spec allows only {expected!r}"
        )


def get_asgi_application() -> LifespanASGIHandler:
    """Set Django up and return the lifespan-aware ASGI application.

    A drop-in replacement for ``django.core.asgi.get_asgi_application``.
    """
    django.setup(set_prefix=False)
    return LifespanASGIHandler()


@asynccontextmanager
async def lifespan(app: LifespanASGIHandler | None = None) -> AsyncIterator[dict[str, Any]]:
    """Run sessionhub's whole lifespan around the block, on the running loop; yield its state.

    For hosts that do not forward the ASGI lifespan to Django (FastAPI's or
    Starlette's ``lifespan=``), scripts and tests. ``app`` is the hosted
    ``LifespanASGIHandler``, whose class is the signals' sender. A failed
    startup or shutdown raises ``LifespanFailedError`` naming what failed.
    """
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    async with run(LifespanASGIHandler if app is None else type(app), scope):
        yield state


@asynccontextmanager
async def run(sender: type, scope: Mapping[str, Any]) -> AsyncIterator[None]:
    """The lifespan for ``scope`` (whose ``"state"`` a server may leave out)."""
    state = scope.get("state")
    lifecycle.begin()
    registry.begin_lifespan()
    registered = Registered(state)
    try:
        failures = await _startup(sender, scope, state, registered)
    except BaseException:  # cancelled: the server is going away
        await _undo(registered)
        raise
    if failures:
        await _undo(registered)
        raise LifespanFailedError("\n".join([*failures, see(LifespanFailedError)]))
    logger.info("lifespan started (pid %d)", os.getpid())
    try:
        yield
    except BaseException:
        await _shutdown(sender, scope, state, registered)
        raise
    failures = await _shutdown(sender, scope, state, registered)
    if failures:
        raise LifespanFailedError("\n".join([*failures, see(LifespanFailedError)]))


def _bound(setting: str, seconds: float) -> tuple[float, str]:
    """The deadline ``seconds`` from now (loop time), and how messages name it."""
    return asyncio.get_running_loop().time() + seconds, f"{setting} ({seconds:g} s)"


async def _startup(
    sender: type, scope: Mapping[str, Any], state: dict[str, Any] | None, registered: Registered
) -> list[str]:
    deadline, bound = _bound("SESSIONHUB_STARTUP_TIMEOUT", conf.startup_timeout())
    try:  # first, so that receivers and registered lifespans find them
        for name in options.client_names():
            registry.get(name)
    except Exception as exc:
        return [f"building the configured clients raised {describe_exception(exc)}"]
    named = {"scope": scope, "state": state}
    failures = await dispatch.send(
        lifespan_started, "lifespan_started", sender, deadline=deadline, bound=bound, **named
    )
    return failures or await registered.enter(deadline, bound)


async def _undo(registered: Registered) -> None:
    """Undo a failed startup: exit what was entered, close the clients.

    ``lifespan_finished`` is not sent: its receivers may rely on what
    ``lifespan_started`` receivers set up, and those did not all run.
    """
    deadline, bound = _bound("SESSIONHUB_SHUTDOWN_TIMEOUT", conf.shutdown_timeout())
    for failure in await registered.exit(deadline, bound):
        logger.error("after a failed startup, %s (pid %d)", failure, os.getpid())
    await _close(stopped=False)


async def _shutdown(
    sender: type, scope: Mapping[str, Any], state: dict[str, Any] | None, registered: Registered
) -> list[str]:
    lifecycle.begin_shutdown()
    deadline, bound = _bound("SESSIONHUB_SHUTDOWN_TIMEOUT", conf.shutdown_timeout())
    try:
        failures = await registered.exit(deadline, bound)
        failures += await dispatch.send(
            lifespan_finished,
            "lifespan_finished",
            sender,
            deadline=deadline,
            bound=bound,
            scope=scope,
            state=state,
        )
    finally:
        await _close(stopped=True)
    for failure in failures:
        logger.error("lifespan shutdown: %s (pid %d)", failure, os.getpid())
    return failures


async def _close(*, stopped: bool) -> None:
    started = time.perf_counter()
    deadline, _ = _bound("SESSIONHUB_CLOSE_TIMEOUT", conf.close_timeout())
    closed = await registry.close(deadline) if lifecycle.end(stopped=stopped) else 0
    logger.info(
        "lifespan finished: closed %d client(s) in %.1f ms (pid %d)",
        closed,
        (time.perf_counter() - started) * 1000,
        os.getpid(),
    )
