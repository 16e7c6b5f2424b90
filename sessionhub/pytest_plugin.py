"""pytest fixtures for projects that use sessionhub (registered as a pytest plugin).

``sessionhub_override(name, factory)`` swaps a named client for the rest of the
test; ``sessionhub_lifespan`` runs the project's ASGI lifespan around the test,
on the test's own event loop, and gives its state. It works with pytest-asyncio
(strict or auto mode, any loop scope) and with anyio's pytest plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import pytest

__all__ = ["sessionhub_lifespan", "sessionhub_override"]

# pytest-asyncio's loop scopes: the lifespan must run on the loop of the test's.
LOOP_SCOPES: tuple[Literal["function", "class", "module", "package", "session"], ...] = (
    "function",
    "class",
    "module",
    "package",
    "session",
)


@pytest.fixture
def sessionhub_override() -> Iterator[Callable[[str, Any], None]]:
    """A function ``override(name, factory)``, undone when the test ends."""
    from sessionhub import overrides

    active: list[tuple[str, int]] = []

    def override(name: str, factory: Any) -> None:
        active.append((name, overrides.push(name, factory)))

    try:
        yield override
    finally:
        while active:
            overrides.pop(*active.pop())


@pytest.fixture
def sessionhub_lifespan(request: pytest.FixtureRequest) -> Any:
    """Run a ``LifespanASGIHandler``'s lifespan around the test, on its loop; the state.

    The lifespan starts before the test and finishes after it, on the event
    loop the test runs on, whatever loop scope pytest-asyncio gives the test
    (its ``asyncio`` marker's ``loop_scope``, else ``asyncio_default_test_loop_scope``);
    under anyio's plugin, on anyio's loop.
    """
    if "anyio_backend" in request.fixturenames:
        if _asyncio_mode(request.config) == "auto":
            raise pytest.UsageError(
                f"{request.node.nodeid} uses sessionhub_lifespan under anyio's plugin while "
                "pytest-asyncio is in auto mode, which runs async fixtures on a loop of its "
                "own: set asyncio_mode = strict to use anyio's plugin."
            )
        return request.getfixturevalue("_sessionhub_lifespan_anyio")
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses sessionhub_lifespan but is not an async test run by "
            "pytest-asyncio (mark it with @pytest.mark.asyncio, or set asyncio_mode = auto) "
            "or by anyio's plugin (@pytest.mark.anyio): the lifespan must run on the test's "
            "event loop."
        )
    loop_scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if loop_scope is None:
        loop_scope = request.config.getini("asyncio_default_test_loop_scope")
    return request.getfixturevalue(f"_sessionhub_lifespan_{loop_scope}")


def _asyncio_mode(config: pytest.Config) -> str | None:
    """pytest-asyncio's mode (``None`` without pytest-asyncio)."""
    try:
        return str(config.getoption("asyncio_mode") or config.getini("asyncio_mode"))
    except ValueError:  # not an option of this run: pytest-asyncio is not installed
        return None


def _lifespan_fixture_function() -> Callable[[], AsyncIterator[dict[str, Any]]]:
    """A new function per fixture: pytest-asyncio marks the function it is given."""

    async def run_lifespan() -> AsyncIterator[dict[str, Any]]:
        from sessionhub.asgi import lifespan

        async with lifespan() as state:
            yield state

    return run_lifespan


# anyio's plugin runs plain async fixtures of tests that use anyio_backend.
_sessionhub_lifespan_anyio = pytest.fixture(name="_sessionhub_lifespan_anyio")(
    _lifespan_fixture_function()
)

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - then only anyio's plugin runs async tests
    pass
else:
    # One fixture per loop scope, each on that scope's loop; sessionhub_lifespan
    # picks the one of the test's loop scope.
    for _scope in LOOP_SCOPES:
        globals()[f"_sessionhub_lifespan_{_scope}"] = pytest_asyncio.fixture(
            _lifespan_fixture_function(), loop_scope=_scope, name=f"_sessionhub_lifespan_{_scope}"
        )
