"""What the benchmark ran on, to print next to its numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import wrk
from bench.processes import ROOT, Cores

__all__ = ["describe"]

_PACKAGES = (
    "django",
    "aiohttp",
    "uvicorn",
    "uvloop",
    "httptools",
    "asgiref",
    "django-asgi-lifespan",
)


def describe(cores: Cores) -> dict[str, Any]:
    """CPU, memory, OS, the versions that matter, and how processes were pinned."""
    if cores.server is None:
        pinning = "none (one core, or no sched_setaffinity): every process shares the CPU"
    else:
        pinning = (
            f"server under test on core {cores.server}; wrk, upstream and latency proxy "
            f"on core {cores.load}"
        )
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_kib() / 2**20, 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "wrk": wrk.version(),
        "sessionhub_commit": _commit(),
        "pinning": pinning,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _memory_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"
