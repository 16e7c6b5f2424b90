"""pytest fixtures for projects that use sessionhub (registered as a pytest plugin).

``sessionhub_override(name, factory)`` swaps a named client for the rest of the
test; ``sessionhub_lifespan`` (with pytest-asyncio) runs the project's ASGI
lifespan around the test and gives its state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

__all__ = ["sessionhub_override"]


@pytest.fixture
def sessionhub_override() -> Iterator[Callable[[str, Any], None]]:
    """A function ``override(name, factory)``, undone when the test ends."""
    from sessionhub.testing import override_client

    active: list[override_client] = []

    def override(name: str, factory: Any) -> None:
        entry = override_client(name, factory)
        entry.enable()
        active.append(entry)

    try:
        yield override
    finally:
        while active:
            active.pop().disable()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def sessionhub_lifespan() -> AsyncIterator[dict[str, Any]]:
        """Run a ``LifespanASGIHandler``'s lifespan around the test; yield its state."""
        from sessionhub.testing import lifespan

        async with lifespan() as state:
            yield state

    __all__ += ["sessionhub_lifespan"]
