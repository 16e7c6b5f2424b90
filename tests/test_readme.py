"""The README's test examples, taken from README.md and run by a real pytest as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.readme import BLOCKS, README
from tests.servers import ROOT
from tests.subpytest import run_pytest

# The project the examples run against; the README describes its views.
PROJECT = "tests.readme_project.settings"


def readme_examples() -> dict[str, str]:
    """Every README code block with a test in it, by the file name on its first line."""
    examples = {}
    for language, text in BLOCKS:
        if language == "python" and re.search(r"^\s*(async )?def test_", text, re.MULTILINE):
            first = text.splitlines()[0]
            assert re.fullmatch(r"# tests/test_\w+\.py", first), f"name the file: {first!r}"
            examples[first.rpartition("/")[2]] = text
    return examples


def pytest_options() -> dict[str, str]:
    """The README's pytest settings, for its example project, as ini options."""
    (toml,) = [text for language, text in BLOCKS if language == "toml" and "pytest" in text]
    options = tomllib.loads(toml)["tool"]["pytest"]["ini_options"]
    assert options.pop("DJANGO_SETTINGS_MODULE") == "mysite.settings"
    return {"DJANGO_SETTINGS_MODULE": PROJECT, **options}


def count_tests(examples: dict[str, str]) -> int:
    return sum(len(re.findall(r"def test_", text)) for text in examples.values())


def test_the_readme_test_examples_pass_in_strict_mode(tmp_path: Path) -> None:
    examples = readme_examples()
    assert len(examples) >= 4
    outcome = run_pytest(tmp_path, examples, {**pytest_options(), "asyncio_mode": "strict"})
    assert outcome.code == 0, outcome.output
    assert len(outcome.passed()) == count_tests(examples) == len(outcome.results)


def test_the_readme_test_examples_pass_in_auto_mode(tmp_path: Path) -> None:
    # As the README says, except the anyio example: auto mode claims its test too.
    examples = {k: v for k, v in readme_examples().items() if "anyio" not in v}
    outcome = run_pytest(tmp_path, examples, {**pytest_options(), "asyncio_mode": "auto"})
    assert outcome.code == 0, outcome.output
    assert len(outcome.passed()) == count_tests(examples) == len(outcome.results)


def test_the_quickstart_logging_example_shows_sessionhub_s_info_lines() -> None:
    (block,) = re.findall(r"^( *)```python\n(\1LOGGING = .*?)^\1```$", README, re.M | re.S)
    logging_example = textwrap.dedent(block[1])
    script = f"""
import asyncio

import django
from django.conf import settings

from sessionhub.testing import lifespan

{logging_example}
settings.configure(INSTALLED_APPS=["sessionhub"], LOGGING=LOGGING)
django.setup()


async def main():
    async with lifespan():
        pass


asyncio.run(main())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    process = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert re.search(r"INFO sessionhub: lifespan started \(pid \d+\)", process.stderr)
    assert re.search(r"INFO sessionhub: created client 'default'", process.stderr)
    assert re.search(r"INFO sessionhub: lifespan finished: closed 1 client", process.stderr)
