"""What a benchmark run does, in order: phases of interleaved runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.variants import LOCAL, REMOTE, Variant

__all__ = ["Phase", "RunSpec", "Settings", "build"]


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a benchmark run."""

    # Many short runs rather than few long ones: the median of five shrugs off
    # two runs that a noisy neighbour disturbed.
    rounds: int = 5
    warmup_s: int = 1
    duration_s: int = 3
    concurrencies: tuple[int, ...] = (32, 128)
    schemes: tuple[str, ...] = ("http", "https")
    # Each server's first load, before its first measured run (imports, pools).
    burn_in_s: int = 1
    upstream_delay_ms: float = 0.0
    remote: bool = True
    remote_rtt_ms: float = 20.0
    # Fewer requests per second there: longer runs for enough samples of p99.
    remote_rounds: int = 3
    remote_duration_s: int = 5
    # Few enough that the server is not saturated: latency then shows what the
    # network costs, not how long requests queue (which would just be req/s again).
    remote_concurrency: int = 8
    # On a shared machine: when other processes use more than this share of the
    # CPU during a warm-up, wait and warm up again, spending at most the budget
    # over the whole run. Others' share is recorded for every run either way.
    quiet_share: float = 0.10
    quiet_budget_s: float = 45.0
    micro_number: int = 1_000_000
    micro_repeat: int = 7


@dataclass(frozen=True)
class RunSpec:
    """One measured run of one variant."""

    phase: str  # "local" or "remote"
    scheme: str
    concurrency: int
    variant: Variant
    round: int
    duration_s: int


@dataclass(frozen=True)
class Phase:
    """Runs that share one upstream address, and so one set of servers."""

    name: str
    scheme: str
    variants: tuple[Variant, ...]
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def title(self) -> str:
        if self.name == "remote":
            return f"remote API ({self.scheme.upper()} through the latency proxy)"
        return f"local upstream over {self.scheme.upper()}"


def build(settings: Settings) -> list[Phase]:
    """The phases, with each round running every variant once (A B C D E, A B C D E, ...)."""
    phases = [
        Phase(
            "local",
            scheme,
            LOCAL,
            [
                RunSpec("local", scheme, concurrency, variant, round_, settings.duration_s)
                for round_ in range(1, settings.rounds + 1)
                for concurrency in settings.concurrencies
                for variant in LOCAL
            ],
        )
        for scheme in settings.schemes
    ]
    if settings.remote:
        phases.append(
            Phase(
                "remote",
                "https",
                REMOTE,
                [
                    RunSpec(
                        "remote",
                        "https",
                        settings.remote_concurrency,
                        variant,
                        round_,
                        settings.remote_duration_s,
                    )
                    for round_ in range(1, settings.remote_rounds + 1)
                    for variant in REMOTE
                ],
            )
        )
    return phases
