"""Medians per variant and load, and the issue's targets checked against them."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.results import RunResult

__all__ = ["Group", "Target", "group", "targets"]


@dataclass(frozen=True)
class Group:
    """Every run of one variant under one load: medians, and the spread of req/s."""

    phase: str
    scheme: str
    concurrency: int
    variant: str
    runs: int
    rps: float  # median
    rps_min: float
    rps_max: float
    p50_ms: float  # median of the runs' p50
    p99_ms: float  # median of the runs' p99
    errors: int  # all runs
    requests: int  # all runs
    # New upstream connections per upstream request, all runs together.
    connections_per_request: float
    steady_connections_per_request: float
    # The most of the machine's CPU that other processes used during one of the runs.
    other_cpu_max: float

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.phase, self.scheme, self.concurrency, self.variant)


def group(runs: Iterable[RunResult]) -> list[Group]:
    """One ``Group`` per phase, scheme, concurrency and variant, in the order first run."""
    by_key: dict[tuple[str, str, int, str], list[RunResult]] = {}
    for run in runs:
        by_key.setdefault((run.phase, run.scheme, run.concurrency, run.variant), []).append(run)
    return [_group(key, members) for key, members in by_key.items()]


def _group(key: tuple[str, str, int, str], runs: Sequence[RunResult]) -> Group:
    phase, scheme, concurrency, variant = key
    rps = [run.rps for run in runs]
    return Group(
        phase=phase,
        scheme=scheme,
        concurrency=concurrency,
        variant=variant,
        runs=len(runs),
        rps=statistics.median(rps),
        rps_min=min(rps),
        rps_max=max(rps),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        errors=sum(run.errors for run in runs),
        requests=sum(run.requests for run in runs),
        connections_per_request=_ratio(
            sum(run.upstream_connections for run in runs),
            sum(run.upstream_requests for run in runs),
        ),
        steady_connections_per_request=_ratio(
            sum(run.steady_upstream_connections for run in runs),
            sum(run.steady_upstream_requests for run in runs),
        ),
        other_cpu_max=max(run.other_cpu for run in runs),
    )


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


@dataclass(frozen=True)
class Target:
    """One of the issue's targets and what this run measured for it."""

    name: str
    measured: float
    comparison: str  # ">=" or "<="
    limit: float
    detail: str

    @property
    def met(self) -> bool:
        if self.comparison == ">=":
            return self.measured >= self.limit
        return self.measured <= self.limit


def targets(groups: Sequence[Group], microbench: dict[str, Any]) -> list[Target]:
    """The issue's targets, as ratios within this run."""
    found = {g.key: g for g in groups}
    result: list[Target] = []
    local = sorted({(g.scheme, g.concurrency) for g in groups if g.phase == "local"})
    for scheme, concurrency in local:
        where = f"{scheme.upper()}, {concurrency} connections"

        def rps(variant: str, scheme: str = scheme, concurrency: int = concurrency) -> float:
            return found[("local", scheme, concurrency, variant)].rps

        ours = rps("sessionhub")
        result.append(
            Target(
                f"req/s vs module-global ({where})",
                ours / rps("module-global"),
                ">=",
                0.97,
                f"{ours:,.0f} vs {rps('module-global'):,.0f} req/s",
            )
        )
        result.append(
            Target(
                f"req/s vs django-asgi-lifespan ({where})",
                ours / rps("django-asgi-lifespan"),
                ">=",
                1.0,
                f"{ours:,.0f} vs {rps('django-asgi-lifespan'):,.0f} req/s",
            )
        )
        result.append(
            Target(
                f"req/s vs session per request ({where})",
                ours / rps("per-request"),
                ">=",
                1.25 if scheme == "http" else 2.2,
                f"{ours:,.0f} vs {rps('per-request'):,.0f} req/s",
            )
        )
        connections = found[("local", scheme, concurrency, "sessionhub")]
        result.append(
            Target(
                f"new upstream connections per request, steady state ({where})",
                connections.steady_connections_per_request,
                "<=",
                0.01,
                f"{connections.connections_per_request:.4f} over the whole run, with the "
                "connections that the previous load's disconnects cost",
            )
        )
    ns = microbench.get("ns_per_call", {})
    if ns:
        get, by_loop = ns["sessionhub.get()"], ns["dict keyed by running loop"]
        result.append(
            Target(
                "sessionhub.get() vs d[asyncio.get_running_loop()], cost per call",
                get / by_loop,
                "<=",
                1.25,
                f"{get:.0f} vs {by_loop:.0f} ns",
            )
        )
    remote = [g for g in groups if g.phase == "remote"]
    if remote:
        by_variant = {g.variant: g for g in remote}
        ours_p50 = by_variant["sessionhub"].p50_ms
        theirs_p50 = by_variant["per-request"].p50_ms
        result.append(
            Target(
                f"remote API p50 latency vs session per request "
                f"(HTTPS, {remote[0].concurrency} connections)",
                ours_p50 / theirs_p50,
                "<=",
                0.6,
                f"{ours_p50:.1f} vs {theirs_p50:.1f} ms",
            )
        )
    return result
