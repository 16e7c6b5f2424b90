"""The admission mechanisms ``python -m bench.overload`` compares: each a server environment."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VARIANTS", "Variant"]


@dataclass(frozen=True)
class Variant:
    """One way of bounding a worker's work, and what it takes to run it."""

    label: str
    env: dict[str, str] = field(default_factory=dict)


VARIANTS = {
    "before": Variant("before: uvicorn's limit_concurrency = worker_connections (100)"),
    "after": Variant("after"),
}
