"""One line per run on stderr, with an estimate of the time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from bench.plan import Phase, RunSpec
from bench.results import RunResult

__all__ = ["Progress"]


class Progress:
    """Counts runs done out of ``total`` and prints each as it finishes."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self._total = total
        self._done = 0
        self._started = time.monotonic()
        self._stream = stream

    def say(self, text: str) -> None:
        print(text, file=self._stream, flush=True)

    def wait(self, share: float) -> None:
        self.say(f"    others use {share:.0%} of the CPU: waiting for quiet")

    def phase(self, phase: Phase) -> None:
        self.say(f"--- {phase.title}: {len(phase.variants)} servers, {len(phase.runs)} runs")

    def run(self, spec: RunSpec, result: RunResult) -> None:
        self._done += 1
        elapsed = time.monotonic() - self._started
        left = elapsed / self._done * (self._total - self._done)
        width = len(str(self._total))
        self.say(
            f"[{self._done:>{width}}/{self._total}] {spec.scheme:<5} c={spec.concurrency:<3} "
            f"round {spec.round} {spec.variant.key:<20} {result.rps:>7,.0f} req/s  "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
            f"new conn/req {result.connections_per_request:5.3f} "
            f"(steady {result.steady_connections_per_request:5.3f})  errors {result.errors}  "
            f"others {result.other_cpu:4.0%} CPU  "
            f"ETA {_clock(left)}"
        )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"
