"""The lifespan itself: one implementation for the ASGI handler, host apps and tests.

``lifespan()`` is an async context manager. Entering it is the startup:
``lifespan_started`` receivers, then the registered lifespans in order, all
within ``SESSIONHUB_STARTUP_TIMEOUT``. Leaving it is the shutdown: the
registered lifespans exited in reverse order, then ``lifespan_finished``
receivers, all within ``SESSIONHUB_SHUTDOWN_TIMEOUT``, then the clients
closed within ``SESSIONHUB_CLOSE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sessionhub import dispatch, lifecycle
from sessionhub.errors import LifespanFailedError
from sessionhub.signals import lifespan_finished, lifespan_started

__all__ = ["lifespan", "register_lifespan"]

logger = logging.getLogger("sessionhub")

LifespanFactory = Callable[[], AbstractAsyncContextManager[Mapping[str, Any] | None]]
_registered: list[LifespanFactory] = []


def register_lifespan(factory: LifespanFactory) -> LifespanFactory:
    """Enter ``factory()`` (an async context manager) in every lifespan; return ``factory``.

    Call it from an ``AppConfig.ready()`` (or use it as a decorator). Registered
    lifespans are entered in registration order after the ``lifespan_started``
    receivers, and exited in reverse order before the ``lifespan_finished``
    ones; a mapping one yields is merged into the lifespan state. Registering
    the same factory twice registers it once.
    """
    if not callable(factory):
        raise TypeError(
            f"register_lifespan() takes a callable that returns an async context manager "
            f"(such as an @asynccontextmanager function), not a {type(factory).__name__}"
        )
    if factory not in _registered:
        _registered.append(factory)
    return factory


def unregister_lifespan(factory: LifespanFactory) -> None:
    """Undo ``register_lifespan(factory)`` (for tests); unknown factories are ignored."""
    if factory in _registered:
        _registered.remove(factory)


@asynccontextmanager
async def lifespan(
    app: Any = None, *, loop_continues: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Run sessionhub's whole lifespan around the block, on the running loop; yield its state.

    For hosts that do not forward the ASGI lifespan to Django (FastAPI's or
    Starlette's ``lifespan=``, Litestar, a script). ``app`` is the
    ``LifespanASGIHandler`` being hosted (a new one by default): its class is
    the signals' sender. Pass ``loop_continues=True`` where the loop goes on
    running after the block (a script, a test), so that ``get()`` keeps
    working there (see ``sessionhub.lifecycle``). A failed startup or
    shutdown raises ``LifespanFailedError`` naming what failed.
    """
    if app is None:
        from sessionhub.asgi import LifespanASGIHandler

        app = LifespanASGIHandler()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    async with run(type(app), scope, loop_continues=loop_continues):
        yield state


@asynccontextmanager
async def run(
    sender: type, scope: Mapping[str, Any], *, loop_continues: bool
) -> AsyncIterator[None]:
    """The lifespan for ``scope`` (a server's, whose ``"state"`` may be missing).

    ``LifespanASGIHandler`` runs it for a server; ``lifespan()`` for a host.
    """
    state = scope.get("state")
    loop = asyncio.get_running_loop()
    lifecycle.start()
    entered: list[tuple[LifespanFactory, AbstractAsyncContextManager[Any]]] = []
    try:
        failures = await _startup(sender, scope, state, entered, loop)
    except BaseException:  # cancelled: the server is going away
        await _abort(entered, loop_continues)
        raise
    if failures:
        await _abort(entered, loop_continues)
        raise LifespanFailedError("\n".join(failures))
    logger.info("lifespan started (pid %d)", os.getpid())
    try:
        yield
    except BaseException:
        await _shutdown(sender, scope, state, entered, loop_continues)
        raise
    failures = await _shutdown(sender, scope, state, entered, loop_continues)
    if failures:
        raise LifespanFailedError("\n".join(failures))


async def _startup(
    sender: type,
    scope: Mapping[str, Any],
    state: dict[str, Any] | None,
    entered: list[tuple[LifespanFactory, AbstractAsyncContextManager[Any]]],
    loop: asyncio.AbstractEventLoop,
) -> list[str]:
    bound = lifecycle.startup_timeout()
    deadline = loop.time() + bound
    where = f"SESSIONHUB_STARTUP_TIMEOUT ({bound:g} s)"
    failures = await dispatch.send(
        lifespan_started,
        "lifespan_started",
        sender,
        deadline=deadline,
        bound=where,
        scope=scope,
        state=state,
    )
    if failures:
        return failures
    for factory in list(_registered):
        what = f"registered lifespan {dispatch.describe(factory)}"
        try:
            manager = factory()
            async with asyncio.timeout_at(deadline):
                value = await manager.__aenter__()
        except TimeoutError:
            return [f"{what} was still starting after {where} and was cancelled"]
        except Exception as exc:
            return [f"{what} raised {dispatch.describe_exception(exc)}"]
        entered.append((factory, manager))
        if value is not None:
            if not isinstance(value, Mapping):
                return [
                    f"{what} yielded a {type(value).__name__}; a registered lifespan yields "
                    "nothing or a mapping to merge into the lifespan state"
                ]
            if state is None:
                return [
                    f"{what} yielded values for the lifespan state, and the server "
                    "provides none (ASGI lifespan scope without 'state')"
                ]
            state.update(value)
    return []


async def _exit_registered(
    entered: list[tuple[LifespanFactory, AbstractAsyncContextManager[Any]]],
    deadline: float,
    where: str,
) -> list[str]:
    failures = []
    while entered:
        factory, manager = entered.pop()
        what = f"registered lifespan {dispatch.describe(factory)}"
        try:
            async with asyncio.timeout_at(deadline):
                await manager.__aexit__(None, None, None)
        except TimeoutError:
            failures.append(f"{what} was still exiting after {where} and was cancelled")
        except Exception as exc:
            failures.append(f"{what} raised {dispatch.describe_exception(exc)}")
    return failures


async def _abort(
    entered: list[tuple[LifespanFactory, AbstractAsyncContextManager[Any]]],
    loop_continues: bool,
) -> None:
    """Undo a startup that failed: exit what was entered, close the clients.

    ``lifespan_finished`` is not sent: its receivers may rely on what
    ``lifespan_started`` receivers set up, and those did not all run.
    """
    bound = lifecycle.shutdown_timeout()
    where = f"SESSIONHUB_SHUTDOWN_TIMEOUT ({bound:g} s)"
    loop = asyncio.get_running_loop()
    for failure in await _exit_registered(entered, loop.time() + bound, where):
        logger.error("after a failed startup, %s (pid %d)", failure, os.getpid())
    await lifecycle.end(loop_continues=loop_continues)


async def _shutdown(
    sender: type,
    scope: Mapping[str, Any],
    state: dict[str, Any] | None,
    entered: list[tuple[LifespanFactory, AbstractAsyncContextManager[Any]]],
    loop_continues: bool,
) -> list[str]:
    lifecycle.begin_shutdown()
    loop = asyncio.get_running_loop()
    bound = lifecycle.shutdown_timeout()
    deadline = loop.time() + bound
    where = f"SESSIONHUB_SHUTDOWN_TIMEOUT ({bound:g} s)"
    try:
        failures = await _exit_registered(entered, deadline, where)
        failures += await dispatch.send(
            lifespan_finished,
            "lifespan_finished",
            sender,
            deadline=deadline,
            bound=where,
            scope=scope,
            state=state,
        )
    finally:
        started = time.perf_counter()
        closed = await lifecycle.end(loop_continues=loop_continues)
        logger.info(
            "lifespan finished: closed %d client(s) in %.1f ms (pid %d)",
            closed,
            (time.perf_counter() - started) * 1000,
            os.getpid(),
        )
    for failure in failures:
        logger.error("lifespan shutdown: %s (pid %d)", failure, os.getpid())
    return failures
