"""Test helpers: swap a named client, run an ASGI lifespan around a block, list open clients.

The same helpers are pytest fixtures through sessionhub's pytest plugin
(``sessionhub_override`` and ``sessionhub_lifespan``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import django.test
from django.test.utils import TestContextDecorator

from sessionhub import asgi, conf, options, overrides, registry
from sessionhub.errors import LifespanFailedError
from sessionhub.middleware import WSGI_STATE_KEY

__all__ = ["LifespanFailedError", "OpenClient", "lifespan", "open_clients", "override_client"]


class override_client(TestContextDecorator):  # noqa: N801 - named like override_settings
    """Make ``sessionhub.get(name)`` return a client built by ``factory`` while active.

    Use it as a context manager, or decorate a test function (sync or async)
    or a ``TestCase`` class. ``factory`` takes the client's ``ClientConfig``
    and is called once per event loop, like a ``FACTORY``. On exit,
    ``get(name)`` returns the configured client again, and the clients the
    override built are closed, each on its own loop.
    """

    def __init__(self, name: str, factory: Callable[[options.ClientConfig], Any]) -> None:
        super().__init__()
        self.name = name
        self.factory = factory
        self._tokens: list[int] = []

    def enable(self) -> None:
        self._tokens.append(overrides.push(self.name, self.factory))

    def disable(self) -> None:
        overrides.pop(self.name, self._tokens.pop())


@dataclass(frozen=True)
class OpenClient:
    """One open client (see ``open_clients()``)."""

    name: str
    client: Any
    loop: asyncio.AbstractEventLoop
    #: Built by a test override (``override_client``).
    override: bool
    #: Its override has ended, and its loop has yet to close it.
    retiring: bool


def open_clients() -> list[OpenClient]:
    """Every client sessionhub holds open in this process, on any loop.

    For tests (assert that none is left open) and for debugging a leak.
    """
    with registry.lock:
        return [
            OpenClient(name, client, loop, token != 0, retiring)
            for loop, state in list(registry.states.items())
            for retiring, held in ((False, state.clients), (True, state.retiring))
            for (name, token), client in held.items()
        ]


@asynccontextmanager
async def lifespan(
    app: Any = None, *, timeout: float | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Drive ``app``'s ASGI lifespan around the block, as a server would; yield its state.

    ``app`` is any ASGI application (a new ``LifespanASGIHandler`` by default).
    Startup runs on enter and shutdown on exit, on the running loop, which goes
    on afterwards. A ``*.failed`` message raises ``LifespanFailedError``,
    chained to what the application raised; an application that raises
    without one raises as is; one that does not answer within ``timeout``
    seconds raises ``TimeoutError``. By default ``timeout`` is longer than
    sessionhub's own bounds together, so that those report first.
    """
    if app is None:
        app = asgi.LifespanASGIHandler()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    to_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    shutdown_wait = timeout or conf.shutdown_timeout() + conf.close_timeout() + 2
    startup_wait = timeout or conf.startup_timeout() + shutdown_wait
    try:
        await to_app.put({"type": "lifespan.startup"})
        await _expect("lifespan.startup.complete", from_app, task, startup_wait)
        try:
            yield state
        finally:
            await to_app.put({"type": "lifespan.shutdown"})
            await _expect("lifespan.shutdown.complete", from_app, task, shutdown_wait)
            async with asyncio.timeout(shutdown_wait):
                await task
    finally:
        if not task.done():  # the block or a wait failed: do not leave it running
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:  # retrieved: it was raised or chained above
            task.cancelled() or task.exception()


async def _expect(
    expected: str, messages: asyncio.Queue[dict[str, Any]], task: asyncio.Task[Any], timeout: float
) -> None:
    """Wait for the application's next message, or for it to end, whichever comes first."""
    getter = asyncio.ensure_future(messages.get())
    try:
        done, _ = await asyncio.wait(
            {getter, task}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
    finally:
        getter.cancel()
    if getter in done:
        message = getter.result()
        if message["type"] == expected:
            return
        # The application raises after a *.failed message (the spec lets it):
        # chain what it raised.
        await asyncio.wait({task}, timeout=timeout)
        cause = task.exception() if task.done() and not task.cancelled() else None
        raise LifespanFailedError(
            f"the application answered {message['type']} instead of {expected}:\n"
            f"{message.get('message', '')}"
        ) from cause
    if task in done:
        task.result()  # raises what the application raised
        raise LifespanFailedError(f"the application returned without sending {expected}")
    raise TimeoutError(f"the application sent no {expected} within {timeout:g} s")


# Test clients whose requests carry a lifespan state, for views that read
# request.state (sessionhub.middleware.LifespanStateMiddleware).

__all__ += ["AsyncClient", "Client"]


class Client(django.test.Client):
    """Django's test ``Client``; with ``state=``, each request carries that lifespan state.

    Every request gets a shallow copy of ``state``, as ASGI servers give each
    request a copy of the lifespan state.
    """

    def __init__(self, *args: Any, state: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state

    def request(self, **request: Any) -> Any:
        """Make a request, with a copy of ``state`` where the middleware reads it."""
        if self.state is not None:
            # The sync client speaks WSGI, which has no lifespan state: the
            # middleware looks for it under this environ key instead.
            request[WSGI_STATE_KEY] = dict(self.state)
        return super().request(**request)


class AsyncClient(django.test.AsyncClient):
    """Django's test ``AsyncClient``; with ``state=``, each request's scope has that state."""

    def __init__(self, *args: Any, state: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state

    async def request(self, **request: Any) -> Any:
        """Make a request whose ASGI scope has a copy of ``state`` as ``scope["state"]``."""
        if self.state is not None:
            request["state"] = dict(self.state)
        return await super().request(**request)
