"""What one measured run produced."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunResult"]


@dataclass(frozen=True)
class RunResult:
    """One variant under one load for one measured period."""

    phase: str
    scheme: str
    concurrency: int
    variant: str
    round: int
    # From wrk.
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # From the upstream, over the whole measured period.
    upstream_requests: int
    upstream_connections: int
    # From the upstream, leaving out the first and last second (the load's ramp
    # up and down: wrk opening and dropping its connections mid-request).
    steady_upstream_requests: int
    steady_upstream_connections: int
    # Share of the machine's CPU that other processes used meanwhile (0 to 1).
    other_cpu: float

    @property
    def connections_per_request(self) -> float:
        return _ratio(self.upstream_connections, self.upstream_requests)

    @property
    def steady_connections_per_request(self) -> float:
        return _ratio(self.steady_upstream_connections, self.steady_upstream_requests)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")
