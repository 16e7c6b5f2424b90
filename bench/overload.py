"""``python -m bench.overload``: what one gunicorn worker does when more is asked of it.

The reference deployment (``deploy/gunicorn.conf.py``, one worker, the
project's demo view, ``TIMEOUT`` 10 s) in four scenarios:

- ``idle``: 1,000 TCP connections held open that never send a byte (any the
  server closes are opened again), while requests and health checks arrive;
- ``slow``: an upstream that answers in 1 s, 200 users (4x the pool of 50 per
  host) each sending its next request when the last is answered;
- ``hung``: an upstream that never answers, 3,000 requests over 5 s, and the
  same at once (``hung-burst``);
- ``overload``: an upstream that serves 50 requests at once in 1 s each (50
  requests/s), offered 0.5x, 1x, 2x and 5x that on new connections.

Each runs once per variant (``bench.overload_variants``): ``before`` is the
mechanism sessionhub shipped until now, ``after`` the one it ships. Results go
to ``bench/results/overload.json`` (a run replaces the entries of the variants
it ran) and are drawn into ``overload.md`` and ``overload.png``. Everything
runs on 127.0.0.1; every request and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import loops, overload_report, overload_variants, traffic
from bench.processes import ROOT, Child, Cores, spawn, wait_ready

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("idle", "slow", "hung", "hung-burst", "overload")
TIMEOUT = 10.0
# The overload scenario's upstream: 50 at once, 1 s each.
CAPACITY = 50.0
LOADS = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Target:
    """The server under test."""

    base: str
    port: int
    worker: int
    child: Child


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios for each variant asked for; write and draw the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(overload_variants.VARIANTS),
        help="run this variant (repeatable; default: after)",
    )
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="(repeatable)")
    parser.add_argument("--seconds", type=float, default=20, help="per offered load")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="only draw the results again")
    args = parser.parse_args(argv)
    path = args.output / "overload.json"
    stored: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    if not args.render:
        args.output.mkdir(parents=True, exist_ok=True)
        for name in args.variant or ["after"]:
            results = {
                scenario: run(name, scenario, args.seconds)
                for scenario in args.scenario or SCENARIOS
            }
            entry = stored["runs"].setdefault(name, {"scenarios": {}})
            entry["scenarios"].update(results)
            entry.update(_provenance())
            path.write_text(json.dumps(stored, indent=1) + "\n")
    overload_report.write(stored, args.output)
    print((args.output / "overload.md").read_text())
    return 0


def run(variant: str, scenario: str, seconds: float) -> dict[str, Any]:
    """One scenario against one variant; what it measured."""
    print(f"{variant}: {scenario} ...", file=sys.stderr, flush=True)
    upstream = {
        "idle": [],
        "slow": ["--delay", "1"],
        "hung": ["--hang"],
        "hung-burst": ["--hang"],
        "overload": ["--delay", "1", "--concurrency", str(int(CAPACITY))],
    }[scenario]
    started = time.monotonic()
    with serving(variant, scenario, upstream) as target, Sampler(target.worker) as memory:
        measure: Callable[[Target], dict[str, Any]] = {
            "idle": idle,
            "slow": slow,
            "hung": lambda t: hung(t, ramp=5),
            "hung-burst": lambda t: hung(t, ramp=0),
            "overload": lambda t: overload(t, seconds),
        }[scenario]
        result = measure(target)
        target.child.check_alive()
    result.update(rss_mib=memory.summary(), wall_s=round(time.monotonic() - started, 1))
    return result


@contextmanager
def serving(variant: str, scenario: str, upstream: list[str]) -> Iterator[Target]:
    """The upstream, then one gunicorn worker of the reference deployment in front of it."""
    cores = Cores.detect()
    if cores.load is not None:  # this process and the upstream on the other core
        os.sched_setaffinity(0, {cores.load})
    logs = RESULTS / "tmp" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    name = f"overload-{variant}-{scenario}"
    with spawn(
        f"{name}-upstream",
        ["python", "-m", "bench.slow_upstream", *upstream],
        core=cores.load,
        cores=cores,
        log_dir=logs,
    ) as up:
        port = int(up.wait_for(r"listening on (\d+)").group(1))
        variant_of = overload_variants.VARIANTS[variant]
        env = {
            "DJANGO_SETTINGS_MODULE": "bench.overload_settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "GUNICORN_BIND": "127.0.0.1:0",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_MAX_REQUESTS": "0",
            "DEMO_UPSTREAM_URL": f"http://127.0.0.1:{port}/",
            "DEMO_UPSTREAM_TIMEOUT": str(TIMEOUT),
            **variant_of.env,
        }
        args = [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
        if variant_of.worker:
            args += ["--worker-class", variant_of.worker]
        with spawn(name, args, core=cores.server, cores=cores, log_dir=logs, env=env) as child:
            bound = int(child.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
            worker = int(child.wait_for(r"Booting worker with pid: (\d+)").group(1))
            base = f"http://127.0.0.1:{bound}"
            wait_ready(child, f"{base}/health/")
            yield Target(base, bound, worker, child)


def idle(target: Target) -> dict[str, Any]:
    """Requests and health checks before and while 1,000 idle connections are held open."""
    url = target.base + "/"

    async def measure() -> dict[str, Any]:
        async with traffic.health_checks(target.base + "/health/") as before_health:
            before = await traffic.open_loop(url, 20, 5, TIMEOUT + 30)
        async with traffic.idle_sockets("127.0.0.1", target.port, 1000) as seen:
            fds = open_fds(target.worker)
            async with traffic.health_checks(target.base + "/health/") as during_health:
                during = await traffic.open_loop(url, 20, 10, TIMEOUT + 30)
        return {
            "baseline": describe(before) | {"health": describe(before_health)},
            "held": describe(during) | {"health": describe(during_health)},
            "idle_opened": seen.opened,
            "idle_closed_by_server": seen.closed_by_server,
            "worker_fds_while_held": fds,
        }

    return loops.run(measure)


def slow(target: Target) -> dict[str, Any]:
    """200 users, each with one keep-alive connection, for 15 s, against a 1 s upstream."""

    async def measure() -> dict[str, Any]:
        async with traffic.health_checks(target.base + "/health/") as health:
            answers = await traffic.closed_loop(target.base + "/", 200, 15, 3 * TIMEOUT)
        return describe(answers) | {"health": describe(health)}

    return loops.run(measure)


def hung(target: Target, ramp: float) -> dict[str, Any]:
    """3,000 requests over ``ramp`` seconds (0: at once) to a view whose upstream never answers."""
    count = 3000

    async def measure() -> dict[str, Any]:
        async with traffic.health_checks(target.base + "/health/") as health:
            if ramp:
                answers = await traffic.open_loop(target.base + "/", count / ramp, ramp, 60)
            else:
                answers = await traffic.open_loop(target.base + "/", 1e9, count / 1e9, 60)
        return describe(answers) | {"health": describe(health)}

    return loops.run(measure)


def overload(target: Target, seconds: float) -> dict[str, Any]:
    """Each offered load for ``seconds``; measured over requests sent after the first 5 s."""
    loads = {}
    for factor in LOADS:
        rate = CAPACITY * factor

        async def measure(rate: float) -> dict[str, Any]:
            async with traffic.health_checks(target.base + "/health/") as health:
                answers = await traffic.open_loop(target.base + "/", rate, seconds, 3 * TIMEOUT)
            window = [a for a in answers if a.sent >= 5]
            return describe(window, seconds - 5) | {"health": describe(health)}

        loads[f"{factor:g}"] = {"offered_rps": rate} | loops.run(partial(measure, rate))
    return {"capacity_rps": CAPACITY, "loads": loads}


def describe(answers: Sequence[traffic.Answer], seconds: float | None = None) -> dict[str, Any]:
    """Counts by status, latency percentiles (all, and 200s), and the share within TIMEOUT."""
    statuses: dict[str, int] = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    ok = sorted(a.seconds for a in answers if a.status == "200")
    every = sorted(a.seconds for a in answers)
    shed = sorted(a.seconds for a in answers if a.status == "503")
    described: dict[str, Any] = {
        "requests": len(answers),
        "statuses": dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
        "all": _percentiles(every),
        "ok": _percentiles(ok),
        "shed": _percentiles(shed),
        "within_timeout_plus_1": _share(every, TIMEOUT + 1),
        "shed_with_retry_after": sum(
            1 for a in answers if a.status == "503" and a.retry_after is not None
        ),
    }
    if seconds:
        described["goodput_rps"] = round(len(ok) / seconds, 2)
    return described


def _percentiles(ordered: Sequence[float]) -> dict[str, float]:
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 3)}


def _share(ordered: Sequence[float], bound: float) -> float:
    return round(sum(1 for s in ordered if s <= bound) / len(ordered), 4) if ordered else 1.0


class Sampler:
    """The worker's resident memory, sampled every 50 ms while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss_mib(pid)
        self.peak = self.before
        self.after = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = rss_mib(self.pid)
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.pid))

    def summary(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in (("before", self.before), ("peak", self.peak),
                                             ("after", self.after))}  # fmt: skip


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def open_fds(pid: int) -> int:
    """File descriptors ``pid`` holds open."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return 0


def _provenance() -> dict[str, str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"commit": commit, "date": date}


if __name__ == "__main__":
    sys.exit(main())
