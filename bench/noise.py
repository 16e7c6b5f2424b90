"""How busy the machine was with other work while a run was measured.

The benchmark shares its machine with whatever else runs there. This measures
the CPU time that processes other than the benchmark's used during a run: all
user and system time on the machine (``/proc/stat``) minus the benchmark's own
(its children's, read from ``/proc/<pid>/stat`` and ``getrusage``). Interrupt
time is left out on both sides, since the kernel charges loopback traffic
there. Linux only; elsewhere the figure is NaN.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["OtherLoad"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> float | None:
    """User, nice and system CPU seconds on all cores since boot."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system = (int(value) for value in fields[1:4])
    return (user + nice + system) / _TICK


def _process_cpu(pid: int) -> float:
    """User and system CPU seconds of a running process (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces: the fields after it start past ")".
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _own_cpu(pids: Sequence[int]) -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    itself = resource.getrusage(resource.RUSAGE_SELF)
    return (
        children.ru_utime
        + children.ru_stime
        + itself.ru_utime
        + itself.ru_stime
        + sum(_process_cpu(pid) for pid in pids)
    )


class OtherLoad:
    """Start measuring at creation; ``share()`` says how much of the machine others used."""

    def __init__(self, pids: Sequence[int]) -> None:
        # The benchmark's long-running children; wrk is counted once waited for.
        self._pids = list(pids)
        self._started = time.monotonic()
        self._busy = _machine_busy()
        self._own = _own_cpu(self._pids)

    def share(self) -> float:
        """Others' CPU time as a fraction of all cores' time since creation (0 to 1)."""
        busy = _machine_busy()
        if busy is None or self._busy is None:
            return float("nan")
        elapsed = (time.monotonic() - self._started) * (os.cpu_count() or 1)
        others = (busy - self._busy) - (_own_cpu(self._pids) - self._own)
        return min(1.0, max(0.0, others / elapsed)) if elapsed > 0 else float("nan")
