"""The pytest plugin's fixtures in pytest-asyncio's strict and auto modes, every loop scope,
and under anyio's plugin: each scenario is a real pytest run with its own ini file."""

from __future__ import annotations

from pathlib import Path

from tests.subpytest import run_pytest

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.settings"}

LOOPCHECK = '''
import asyncio

import sessionhub


def on_the_test_loop(state):
    """The lifespan ran on the running loop: its receiver saw it, its clients are built."""
    assert state["loop"] is asyncio.get_running_loop()
    assert "default" in sessionhub.stats()
'''

CONFTEST = """
import asyncio

from sessionhub.signals import lifespan_started


async def record_loop(state, **kwargs):
    state["loop"] = asyncio.get_running_loop()


lifespan_started.connect(record_loop)
"""

SCENARIOS = {
    "test_function_loop.py": """
import pytest
from loopcheck import on_the_test_loop


@pytest.mark.asyncio
async def test_function_loop(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
""",
    "test_module_loop.py": """
import asyncio

import pytest
from loopcheck import on_the_test_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")
loops = []


# In either order (pytest-randomly may swap them), the second one to run
# checks that both ran on one loop.
async def test_first(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
    loops.append(asyncio.get_running_loop())
    assert all(loop is loops[0] for loop in loops)


async def test_second_on_the_same_loop(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
    loops.append(asyncio.get_running_loop())
    assert all(loop is loops[0] for loop in loops)
""",
    "test_class_loop.py": """
import pytest
from loopcheck import on_the_test_loop


@pytest.mark.asyncio(loop_scope="class")
class TestOnAClassLoop:
    async def test_class_loop(self, sessionhub_lifespan):
        on_the_test_loop(sessionhub_lifespan)
""",
    "test_session_marker.py": """
import pytest
from loopcheck import on_the_test_loop


@pytest.mark.asyncio(loop_scope="session")
async def test_session_loop(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
""",
    "test_anyio.py": """
import pytest
from loopcheck import on_the_test_loop


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_anyio(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
""",
    "test_sync.py": """
def test_sync(sessionhub_lifespan):
    raise AssertionError("unreachable: the fixture refuses a sync test")
""",
}


def test_strict_mode_runs_the_lifespan_on_the_loop_of_each_loop_scope(tmp_path: Path) -> None:
    outcome = run_pytest(
        tmp_path,
        {"loopcheck.py": LOOPCHECK, "conftest.py": CONFTEST, **SCENARIOS},
        {**SETTINGS, "asyncio_mode": "strict", "asyncio_default_fixture_loop_scope": "function"},
    )
    assert outcome.results == {
        "test_function_loop.test_function_loop": "passed",
        "test_module_loop.test_first": "passed",
        "test_module_loop.test_second_on_the_same_loop": "passed",
        "test_class_loop.TestOnAClassLoop.test_class_loop": "passed",
        "test_session_marker.test_session_loop": "passed",
        "test_anyio.test_anyio": "passed",
        "test_sync.test_sync": "error",
    }, outcome.output
    assert "test_sync.py::test_sync uses sessionhub_lifespan but is not an async test" in (
        outcome.output
    )


SESSION_LOOP = """
import asyncio

import pytest
from loopcheck import on_the_test_loop

loops = []


# In either order, the second one to run checks that both shared one loop.
@pytest.mark.asyncio
async def test_first(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
    loops.append(asyncio.get_running_loop())
    assert all(loop is loops[0] for loop in loops)


@pytest.mark.asyncio
async def test_second(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
    loops.append(asyncio.get_running_loop())
    assert all(loop is loops[0] for loop in loops)
"""


def test_a_session_scoped_test_loop_with_function_scoped_fixture_loops(tmp_path: Path) -> None:
    # The case: the tests share one loop, async fixtures default to a
    # loop of their own; the lifespan must still run on the tests' loop.
    outcome = run_pytest(
        tmp_path,
        {"loopcheck.py": LOOPCHECK, "conftest.py": CONFTEST, "test_session.py": SESSION_LOOP},
        {
            **SETTINGS,
            "asyncio_mode": "strict",
            "asyncio_default_test_loop_scope": "session",
            "asyncio_default_fixture_loop_scope": "function",
        },
    )
    assert outcome.passed() == {"test_session.test_first", "test_session.test_second"}, (
        outcome.output
    )


AUTO = """
import pytest
from loopcheck import on_the_test_loop


async def test_unmarked(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)


@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop(sessionhub_lifespan):
    on_the_test_loop(sessionhub_lifespan)
"""


def test_auto_mode(tmp_path: Path) -> None:
    outcome = run_pytest(
        tmp_path,
        {"loopcheck.py": LOOPCHECK, "conftest.py": CONFTEST, "test_auto.py": AUTO},
        {**SETTINGS, "asyncio_mode": "auto", "asyncio_default_fixture_loop_scope": "function"},
    )
    assert outcome.passed() == {"test_auto.test_unmarked", "test_auto.test_module_loop"}, (
        outcome.output
    )


def test_anyio_without_pytest_asyncio(tmp_path: Path) -> None:
    files = {"test_anyio.py": SCENARIOS["test_anyio.py"]}
    outcome = run_pytest(
        tmp_path,
        {"loopcheck.py": LOOPCHECK, "conftest.py": CONFTEST, **files},
        SETTINGS,
        args=["-p", "no:asyncio"],
    )
    assert outcome.results == {"test_anyio.test_anyio": "passed"}, outcome.output


def test_anyio_under_auto_mode_is_refused_with_a_reason(tmp_path: Path) -> None:
    # Auto mode would run the fixture on pytest-asyncio's loop, the test on anyio's.
    files = {"test_anyio.py": SCENARIOS["test_anyio.py"]}
    outcome = run_pytest(
        tmp_path,
        {"loopcheck.py": LOOPCHECK, "conftest.py": CONFTEST, **files},
        {**SETTINGS, "asyncio_mode": "auto", "asyncio_default_fixture_loop_scope": "function"},
    )
    assert outcome.results == {"test_anyio.test_anyio": "error"}, outcome.output
    assert "set asyncio_mode = strict to use anyio's plugin" in outcome.output
