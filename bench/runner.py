"""Run the plan: start the processes, load every variant in turn, collect the numbers."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import logscan, services, wrk
from bench.certs import generate
from bench.noise import OtherLoad
from bench.plan import Phase, RunSpec, Settings, build
from bench.processes import ROOT, Cores
from bench.progress import Progress
from bench.results import RunResult

__all__ = ["Outcome", "run"]


@dataclass
class Outcome:
    """Everything a benchmark run measured."""

    runs: list[RunResult] = field(default_factory=list)
    microbench: dict[str, Any] = field(default_factory=dict)
    # Per server (phase and variant): the log lines that say something broke,
    # and how often each known, harmless complaint appeared.
    server_trouble: dict[str, list[str]] = field(default_factory=dict)
    server_known: dict[str, dict[str, int]] = field(default_factory=dict)
    # Seconds spent waiting for other processes to quiet down.
    waited_s: float = 0.0
    wall_s: float = 0.0


def run(settings: Settings, *, cores: Cores, log_dir: Path, progress: Progress) -> Outcome:
    """Run every phase, then the microbenchmark."""
    started = time.monotonic()
    outcome = Outcome()
    phases = build(settings)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sessionhub-bench-")))
        certs = generate(tmp)
        upstream = stack.enter_context(
            services.upstream(
                certs, delay_ms=settings.upstream_delay_ms, cores=cores, log_dir=log_dir
            )
        )
        proxy: services.Proxy | None = None
        if settings.remote:
            proxy = stack.enter_context(
                services.latency_proxy(
                    upstream.https_port,
                    rtt_ms=settings.remote_rtt_ms,
                    cores=cores,
                    log_dir=log_dir,
                )
            )
        for phase in phases:
            if phase.name == "remote":
                assert proxy is not None
                url = f"https://127.0.0.1:{proxy.port}/"
            else:
                url = upstream.url(phase.scheme)
            tag = f"{phase.name}-{phase.scheme}"
            progress.phase(phase)
            with services.servers(
                phase.variants, url, certs=certs, cores=cores, log_dir=log_dir, tag=tag
            ) as servers:
                _burn_in(phase, servers, settings, cores)
                for spec in phase.runs:
                    server = servers[spec.variant.key]
                    ours = [server.process.process.pid, upstream.pid]
                    if proxy is not None:
                        ours.append(proxy.pid)
                    _warm_up(spec, server.url, ours, settings, cores, outcome, progress)
                    result = _measure(spec, server.url, upstream, ours, cores)
                    server.process.check_alive()
                    outcome.runs.append(result)
                    progress.run(spec, result)
            for variant in phase.variants:
                name = f"{tag}-{variant.key}"
                log = (log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
                found = logscan.scan(log)
                if variant.key == "sessionhub" and not logscan.ONE_SESSION_CLOSED.search(log):
                    found.trouble.append("no 'closed 1 client(s)' line at shutdown")
                if found.trouble:
                    outcome.server_trouble[name] = found.trouble[:20]
                if found.known:
                    outcome.server_known[name] = found.known
    progress.say("--- sessionhub.get() microbenchmark")
    outcome.microbench = _microbench(settings, cores)
    outcome.wall_s = time.monotonic() - started
    return outcome


def _burn_in(
    phase: Phase, servers: dict[str, services.Server], settings: Settings, cores: Cores
) -> None:
    if not settings.burn_in_s:
        return
    connections = max(spec.concurrency for spec in phase.runs)
    for variant in phase.variants:
        url = servers[variant.key].url
        wrk.start(url, connections=connections, seconds=settings.burn_in_s, cores=cores).wait()


def _warm_up(
    spec: RunSpec,
    url: str,
    pids: list[int],
    settings: Settings,
    cores: Cores,
    outcome: Outcome,
    progress: Progress,
) -> None:
    """Warm up; while others keep the machine busy, and budget is left, pause and redo it."""
    while True:
        others = OtherLoad(pids)
        started = time.monotonic()
        if settings.warmup_s:
            wrk.start(
                url, connections=spec.concurrency, seconds=settings.warmup_s, cores=cores
            ).wait()
        share = others.share()
        if not share > settings.quiet_share or outcome.waited_s >= settings.quiet_budget_s:
            return
        progress.wait(share)
        time.sleep(2)
        outcome.waited_s += time.monotonic() - started


def _measure(
    spec: RunSpec,
    url: str,
    upstream: services.Upstream,
    pids: list[int],
    cores: Cores,
) -> RunResult:
    """Load ``url`` for the run's duration; count what wrk and the upstream saw."""
    connections = spec.concurrency
    upstream.counts()  # reset
    others = OtherLoad(pids)
    started = time.monotonic()
    load = wrk.start(url, connections=connections, seconds=spec.duration_s, cores=cores)
    margin = min(1.0, spec.duration_s / 4)
    _sleep_until(started + margin)
    head = upstream.counts()
    _sleep_until(started + spec.duration_s - margin)
    steady = upstream.counts()
    measured = load.wait()
    other_cpu = others.share()
    tail = upstream.counts()
    return RunResult(
        phase=spec.phase,
        scheme=spec.scheme,
        concurrency=spec.concurrency,
        variant=spec.variant.key,
        round=spec.round,
        requests=measured.requests,
        duration_s=measured.duration_s,
        rps=measured.rps,
        p50_ms=measured.p50_ms,
        p99_ms=measured.p99_ms,
        errors=measured.errors,
        upstream_requests=head.requests + steady.requests + tail.requests,
        upstream_connections=head.connections + steady.connections + tail.connections,
        steady_upstream_requests=steady.requests,
        steady_upstream_connections=steady.connections,
        other_cpu=other_cpu,
    )


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


def _microbench(settings: Settings, cores: Cores) -> dict[str, Any]:
    args = [
        sys.executable, "-m", "bench.microbench",
        "--number", str(settings.micro_number),
        "--repeat", str(settings.micro_repeat),
    ]  # fmt: skip
    done = subprocess.run(
        args,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        preexec_fn=cores.pin(cores.server),
    )
    if done.returncode:
        raise RuntimeError(f"the microbenchmark failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
