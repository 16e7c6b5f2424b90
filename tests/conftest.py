from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Iterator

import pytest

from sessionhub import registry
from tests.helpers import open_sessions
from tests.upstream import Upstream, running_upstream


def pytest_configure(config: pytest.Config) -> None:
    # Dev mode is what makes asyncio and aiohttp report leaked sessions and
    # connectors; without it the leak tests below could pass vacuously.
    if not sys.flags.dev_mode:
        raise pytest.UsageError("run the tests with PYTHONDEVMODE=1 (see README)")
    # A shell starts a background job with SIGINT ignored, and the servers the
    # tests start would inherit that: give them the default disposition, which
    # a Python handler becomes in a child, as it would be from a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with running_upstream() as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail the test that leaves a session open, not some later one."""
    yield
    # A ResourceWarning raised in __del__ reaches pytest's unraisable hook,
    # which the "error" warning filter turns into a failure of this test.
    gc.collect()
    left_open = open_sessions()
    assert not left_open, f"test left {len(left_open)} session(s) open"
    assert not registry.defaults, "the fast path still points at a loop whose clients closed"
    assert not registry.visible, "the fast path still points at a loop whose clients closed"
