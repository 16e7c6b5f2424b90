"""Test helpers: swap a named client, and run an ASGI lifespan around a block.

The same helpers are pytest fixtures through sessionhub's pytest plugin
(``sessionhub_override`` and ``sessionhub_lifespan``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgiref.testing import ApplicationCommunicator
from django.test.utils import TestContextDecorator

from sessionhub import hub
from sessionhub.hub import Factory, SessionhubError

__all__ = ["LifespanFailedError", "lifespan", "override_client"]


class LifespanFailedError(SessionhubError):
    """The application reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


class override_client(TestContextDecorator):  # noqa: N801 - named like override_settings
    """Make ``sessionhub.get(name)`` return a client built by ``factory`` while active.

    Use it as a context manager, or decorate a test function (sync or async)
    or a ``TestCase`` class. ``factory`` takes the client's ``ClientConfig``
    and is called once per event loop, like a ``FACTORY``; sessionhub closes
    what it builds when the lifespan finishes or the loop ends. On exit,
    ``get(name)`` returns the configured client again.
    """

    def __init__(self, name: str, factory: Factory) -> None:
        super().__init__()
        self.name = name
        self.factory = factory
        self._tokens: list[int] = []

    def enable(self) -> None:
        self._tokens.append(hub._push_override(self.name, self.factory))

    def disable(self) -> None:
        hub._pop_override(self.name, self._tokens.pop())


@asynccontextmanager
async def lifespan(app: Any = None, *, timeout: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s ASGI lifespan around the block and yield its lifespan state.

    ``app`` defaults to a new ``LifespanASGIHandler``. Startup runs on enter and
    shutdown on exit, on the running loop; a ``*.failed`` message raises
    ``LifespanFailedError``, and an exception in the application is raised as is.
    """
    if app is None:
        from sessionhub.asgi import LifespanASGIHandler

        app = LifespanASGIHandler()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "lifespan.startup"})
    await _expect(communicator, "lifespan.startup.complete", timeout)
    try:
        yield state
    finally:
        await communicator.send_input({"type": "lifespan.shutdown"})
        await _expect(communicator, "lifespan.shutdown.complete", timeout)
        await communicator.wait(timeout)


async def _expect(communicator: ApplicationCommunicator, expected: str, timeout: float) -> None:
    message = await communicator.receive_output(timeout)
    if message["type"] != expected:
        await communicator.wait(timeout)
        raise LifespanFailedError(
            f"the application answered {message['type']} instead of {expected}:\n"
            f"{message.get('message', '')}"
        )
