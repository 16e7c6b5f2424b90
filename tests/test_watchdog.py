"""The watchdog ends its process at its deadline, saying why and where each thread was.

Each case runs in a process of its own (under coverage when the suite is),
since ending the process is the point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

SCRIPT = """
import time
from sessionhub.watchdog import Watchdog

watchdog = Watchdog()


def stuck_here():
    {body}
    time.sleep(1)  # well past every deadline below


stuck_here()
print("lived on")
"""


def run(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(body=body), encoding="utf-8")
    command = [sys.executable, str(script)]
    if os.environ.get("COVERAGE_RUN"):  # the suite runs under coverage: so does this
        data = os.environ.get("COVERAGE_FILE") or str(ROOT / ".coverage")
        config = f"--rcfile={ROOT / 'pyproject.toml'}"
        command[1:1] = ["-m", "coverage", "run", config, f"--data-file={data}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_at_the_deadline_it_says_why_and_where_and_ends_the_process(tmp_path: Path) -> None:
    ended = run(tmp_path, 'watchdog.arm(0.2, 7, "the loop is stuck")')
    assert ended.returncode == 7
    assert "lived on" not in ended.stdout
    first, _, stacks = ended.stderr.partition("\n")
    assert first == (
        f"[sessionhub] pid {first.split()[2].rstrip(':')}: the loop is stuck; ending the process "
        "with exit code 7. Where each thread was:"
    )
    assert "line 10 in stuck_here" in stacks  # the main thread, where it was stuck
    assert "in _watch" in stacks  # and the watchdog's own


def test_disarmed_it_lets_the_process_live(tmp_path: Path) -> None:
    lived = run(tmp_path, 'watchdog.arm(0.2, 7, "never said"); watchdog.disarm()')
    assert lived.returncode == 0
    assert lived.stdout == "lived on\n"
    assert lived.stderr == ""


def test_of_two_deadlines_the_earlier_holds(tmp_path: Path) -> None:
    sooner = run(tmp_path, 'watchdog.arm(30, 5, "later"); watchdog.arm(0.2, 6, "sooner")')
    assert sooner.returncode == 6 and "sooner" in sooner.stderr
    kept = run(tmp_path, 'watchdog.arm(0.2, 5, "first"); watchdog.arm(30, 6, "more time")')
    assert kept.returncode == 5 and "first" in kept.stderr
