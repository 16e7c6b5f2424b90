"""Run wrk, the load generator, in its own process, and read its numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.processes import Cores

__all__ = ["Load", "WrkMissingError", "start", "version"]

_SCRIPT = Path(__file__).with_name("wrk_report.lua")
_MARKER = "BENCH_WRK "


class WrkMissingError(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True)
class Load:
    """What wrk measured."""

    requests: int
    duration_s: float
    # Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def _wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissingError(
            "wrk is not installed. On Debian or Ubuntu: apt-get install -y wrk; "
            "on macOS: brew install wrk."
        )
    return path


def version() -> str:
    """wrk's version line."""
    run = subprocess.run([_wrk(), "--version"], capture_output=True, text=True, check=False)
    return (run.stdout or run.stderr).splitlines()[0].split(" Copyright")[0].strip()


class Running:
    """A wrk process under way."""

    def __init__(self, process: subprocess.Popen[str], seconds: int) -> None:
        self._process = process
        self._seconds = seconds

    def wait(self) -> Load:
        """Wait for wrk to finish and parse what it printed."""
        try:
            out, err = self._process.communicate(timeout=self._seconds + 30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            raise RuntimeError("wrk did not finish in time") from None
        for line in out.splitlines():
            if line.startswith(_MARKER):
                data = json.loads(line.removeprefix(_MARKER))
                break
        else:
            raise RuntimeError(
                f"wrk printed no summary (exit {self._process.returncode}):\n{out}\n{err}"
            )
        kinds = ("connect", "read", "write", "status", "timeout")
        errors = sum(data[f"{kind}_errors"] for kind in kinds)
        return Load(
            requests=data["requests"],
            duration_s=data["duration_us"] / 1e6,
            errors=errors,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
        )


def start(url: str, *, connections: int, seconds: int, cores: Cores) -> Running:
    """Start wrk: one thread, ``connections`` open connections, for ``seconds``."""
    args = [
        _wrk(),
        "--threads", "1",
        "--connections", str(connections),
        "--duration", f"{seconds}s",
        "--timeout", "5s",
        "--script", str(_SCRIPT),
        url,
    ]  # fmt: skip
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=cores.pin(cores.load),
    )
    return Running(process, seconds)
