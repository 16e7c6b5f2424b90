"""Registered lifespans: ``register_lifespan()``, and the task that enters and exits them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from sessionhub import closing
from sessionhub.errors import describe, describe_exception

__all__ = ["Registered", "register_lifespan", "unregister_lifespan"]

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
            "register_lifespan() takes a callable that returns an async context manager "
            f"(such as an @asynccontextmanager function), not a {type(factory).__name__}"
        )
    if factory not in _registered:
        _registered.append(factory)
    return factory


def unregister_lifespan(factory: LifespanFactory) -> None:
    """Undo ``register_lifespan(factory)`` (for tests); unknown factories are ignored."""
    if factory in _registered:
        _registered.remove(factory)


class Registered:
    """The registered lifespans of one lifespan, entered and exited by one task of their own.

    One task, so that a context manager that must be exited in the task that
    entered it (anyio's task groups and cancel scopes) can be; its own, so
    that it is bounded like a receiver.
    """

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.state = state
        self.failures: list[str] = []
        self.doing = ""  # the registered lifespan being entered or exited
        self.phase = "starting"
        self.started = asyncio.get_running_loop().create_future()
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def enter(self, deadline: float, bound: str) -> list[str]:
        """Enter every registered lifespan by ``deadline``; describe what failed."""
        factories = list(_registered)
        if not factories:
            return []
        self.task = asyncio.ensure_future(self._run(factories))
        return await self._until(self.started, deadline, bound)

    async def exit(self, deadline: float, bound: str) -> list[str]:
        """Exit what was entered, in reverse order, by ``deadline``; describe what failed."""
        if self.task is None:  # none registered, or the task was left behind
            return []
        self.stop.set()
        return await self._until(self.task, deadline, bound)

    async def _until(self, goal: asyncio.Future[None], deadline: float, bound: str) -> list[str]:
        assert self.task is not None
        known = len(self.failures)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait(
                [goal, self.task],
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:  # cancelled: the server is going away, and so do these
            self.task.cancel()
            raise
        if not (goal.done() or self.task.done()):
            doing, phase = self.doing, self.phase
            await closing.unwind({self.task})
            self.failures.append(f"{doing} was still {phase} after {bound} and was cancelled")
            if (self.doing, self.phase) == (doing, phase) and not self.task.done():
                self.failures[-1] += "; it ignored the cancellation and is left running"
                self.task = None
        return self.failures[known:]

    async def _run(self, factories: list[LifespanFactory]) -> None:
        entered: list[tuple[str, AbstractAsyncContextManager[Any]]] = []
        try:
            for factory in factories:
                self.doing = f"registered lifespan {describe(factory)}"
                manager = factory()
                problem = self._merge(await manager.__aenter__())
                entered.append((self.doing, manager))
                if problem:
                    self.failures.append(f"{self.doing} {problem}")
                    break
            else:
                self.started.set_result(None)
                await self.stop.wait()
        except asyncio.CancelledError:
            pass  # at the startup deadline, which _until reports: exit what was entered
        except BaseException as exc:  # noqa: BLE001 - a failure of this lifespan
            self.failures.append(f"{self.doing} raised {describe_exception(exc)}")
        self.phase = "exiting"
        while entered:
            self.doing, manager = entered.pop()
            try:
                await manager.__aexit__(None, None, None)
            except asyncio.CancelledError:  # at the deadline, which _until reports
                self.failures += [f"{doing} was not exited: time was up" for doing, _ in entered]
                return
            except BaseException as exc:  # noqa: BLE001 - a failure of this lifespan
                self.failures.append(f"{self.doing} raised {describe_exception(exc)}")

    def _merge(self, value: object) -> str:
        """Merge what a registered lifespan yielded into the state; what is wrong with it."""
        if value is None:
            return ""
        if not isinstance(value, Mapping):
            return (
                f"yielded a {type(value).__name__}; a registered lifespan yields nothing or a "
                "mapping to merge into the lifespan state"
            )
        if self.state is None:
            return (
                "yielded values for the lifespan state, and the server provides none (ASGI "
                "lifespan scope without 'state')"
            )
        self.state.update(value)
        return ""
