"""Run pytest in a subprocess over a temporary directory with its own ini file.

The inner run's asyncio mode and loop scopes come from its own ``pytest.ini``,
so they are real, not this suite's (which runs in auto mode). Under ``coverage
run`` the inner run is measured too, into this suite's data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ROOT


@dataclass
class Outcome:
    """What the inner run did: its exit code, output, and each test's result by name."""

    code: int
    output: str
    results: dict[str, str]

    def passed(self) -> set[str]:
        return {name for name, result in self.results.items() if result == "passed"}


def run_pytest(
    directory: Path,
    files: Mapping[str, str],
    ini: Mapping[str, str],
    args: Sequence[str] = (),
    timeout: float = 120,
) -> Outcome:
    """Write ``files`` and a ``pytest.ini`` of ``ini`` options into ``directory``; run pytest."""
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    options = {"filterwarnings": "error", **ini}
    lines = ["[pytest]", *(f"{key} = {value}" for key, value in options.items())]
    (directory / "pytest.ini").write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "pytest"]
    if os.environ.get("COVERAGE_RUN"):
        config = ROOT / "pyproject.toml"
        # Where the suite's own coverage data goes (CI sets COVERAGE_FILE).
        data = os.environ.get("COVERAGE_FILE") or ROOT / ".coverage"
        command[2:2] = ["coverage", "run", f"--rcfile={config}", f"--data-file={data}", "-m"]
    junit = directory / "results.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(PYTHONDEVMODE="1", PYTHONPATH=str(ROOT))
    process = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-rA", f"--junitxml={junit}", *args, str(directory)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results: dict[str, str] = {}
    if junit.exists():
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag in {"failure", "error", "skipped"}:
                    outcome = child.tag
            results[f"{case.get('classname')}.{case.get('name')}"] = outcome
    return Outcome(process.returncode, process.stdout + process.stderr, results)
