"""The admission mechanisms ``python -m bench.overload`` compares: each a server environment."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VARIANTS", "Variant"]


@dataclass(frozen=True)
class Variant:
    """One way of bounding a worker's work: its label, its environment, its worker class."""

    label: str
    env: dict[str, str] = field(default_factory=dict)
    worker: str | None = None


_PLAIN = "bench.overload_server.plain"
_BENCH_WORKER = "bench.overload_server.Worker"

VARIANTS = {
    "before": Variant(
        "uvicorn's limit_concurrency = worker_connections (100): open connections",
        {"BENCH_ADMISSION": "connections", "BENCH_FACTORY": _PLAIN},
        _BENCH_WORKER,
    ),
    "requests": Variant(
        "a fixed bound on requests in flight (100), pool waits unbounded",
        {
            "BENCH_ADMISSION": "requests",
            "BENCH_FACTORY": _PLAIN,
            "SESSIONHUB_MAX_REQUESTS_IN_FLIGHT": "100",
        },
        _BENCH_WORKER,
    ),
    "pool-timeout": Variant(
        "requests in flight (1,000) and aiohttp's own bound on a pool wait (TIMEOUT / 2)",
        {"BENCH_ADMISSION": "requests", "BENCH_FACTORY": "bench.overload_server.pool_timeout"},
        _BENCH_WORKER,
    ),
    "after": Variant(
        "sessionhub: requests in flight (1,000) and their wait to start (0.5 s), "
        "pool waits predicted against TIMEOUT"
    ),
}
