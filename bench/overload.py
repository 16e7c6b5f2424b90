"""``python -m bench.overload``: one gunicorn worker, a hung upstream, N requests at once.

The reference deployment (``deploy/gunicorn.conf.py``, one worker) serves the
demo view, whose upstream accepts connections and never answers, so every
request ends in the client's ``TIMEOUT``. N requests arrive at once, on N
connections. Measured per run: latency (p50, p99), the share of requests
answered within ``TIMEOUT`` + 1 s, the statuses (503: shed by the bound), the
worker's peak RSS and its RSS once the load is over, and a health check sent
every 0.5 s during the load. Run "before" (``GUNICORN_WORKER_CONNECTIONS=0``:
no bound) and "after" (the bound at its default, or ``--limit``). Everything
runs on 127.0.0.1; every request and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import queue
import runpy
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.processes import ROOT, Child, Cores, spawn, wait_ready

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"


@dataclass
class Outcome:
    """What one run measured."""

    mode: str
    worker_connections: str
    requests: int
    timeout_s: float
    ramp_s: float
    p50_s: float
    p99_s: float
    max_s: float
    within_timeout_share: float
    statuses: dict[str, int]
    rss_before_mib: float
    rss_peak_mib: float
    rss_after_mib: float
    health_statuses: dict[str, int] = field(default_factory=dict)
    health_p50_s: float = 0.0
    health_max_s: float = 0.0
    wall_s: float = 0.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario before and after the bound; print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="concurrent requests (N)")
    parser.add_argument("--timeout", type=float, default=10, help="the demo client's TIMEOUT")
    parser.add_argument(
        "--ramp", type=float, default=0, help="seconds over which the requests start (0: at once)"
    )
    parser.add_argument(
        "--limit", default="", help="GUNICORN_WORKER_CONNECTIONS after (default: the conf's)"
    )
    parser.add_argument("--only", choices=["before", "after"], help="run one mode only")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the results go")
    args = parser.parse_args(argv)
    modes = [("before", "0"), ("after", args.limit)]
    outcomes = [
        run(mode, limit, args.requests, args.timeout, args.ramp)
        for mode, limit in modes
        if args.only in (None, mode)
    ]
    print(table(outcomes))
    args.output.mkdir(parents=True, exist_ok=True)
    stem = "overload-ramp" if args.ramp else "overload-burst"
    (args.output / f"{stem}.json").write_text(
        json.dumps([asdict(o) for o in outcomes], indent=2) + "\n"
    )
    (args.output / f"{stem}.md").write_text(table(outcomes) + "\n")
    return 0


def run(mode: str, limit: str, requests: int, timeout: float, ramp: float) -> Outcome:
    """One run: start the hung upstream and gunicorn, send the load, stop both."""
    cores = Cores.detect()
    if cores.load is not None:  # the load and the upstream on the other core
        os.sched_setaffinity(0, {cores.load})
    logs = RESULTS / "tmp" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with hung_upstream() as upstream_port:
        env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "GUNICORN_BIND": "127.0.0.1:0",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_MAX_REQUESTS": "0",
            "DEMO_UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}/hang",
            "DEMO_UPSTREAM_TIMEOUT": str(timeout),
        }
        if limit:
            env["GUNICORN_WORKER_CONNECTIONS"] = limit
        args = [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
        with spawn(f"overload-{mode}", args, core=cores.server, cores=cores, log_dir=logs,
                   env=env) as child:  # fmt: skip
            port = int(child.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
            worker = int(child.wait_for(r"Booting worker with pid: (\d+)").group(1))
            base = f"http://127.0.0.1:{port}"
            wait_ready(child, f"{base}/health/")
            bound = worker_connections(env)
            print(f"{mode}: {requests} requests, worker_connections={bound}", file=sys.stderr)
            return measure(mode, bound, base, worker, requests, timeout, ramp, child)


def worker_connections(env: dict[str, str]) -> str:
    """The bound deploy/gunicorn.conf.py gives a worker under ``env`` (0: none)."""
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return str(conf["worker_connections"])


def measure(
    mode: str,
    bound: str,
    base: str,
    worker: int,
    requests: int,
    timeout: float,
    ramp: float,
    child: Child,
) -> Outcome:
    """Send the load and sample the worker's memory and health meanwhile."""
    rss_before = rss_mib(worker)
    peak = [rss_before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mib(worker))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        latencies, statuses, health = asyncio.run(load(base, requests, timeout, ramp))
    finally:
        done.set()
        sampler.join()
    wall = time.monotonic() - started
    child.check_alive()
    # Memory a moment after the load: what the worker kept.
    time.sleep(2)
    rss_after = rss_mib(worker)
    ordered = sorted(latencies)
    health_latencies = [seconds for _, seconds in health]
    return Outcome(
        mode=mode,
        worker_connections=bound,
        requests=requests,
        timeout_s=timeout,
        ramp_s=ramp,
        p50_s=round(statistics.median(ordered), 3),
        p99_s=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        max_s=round(ordered[-1], 3),
        within_timeout_share=round(sum(s <= timeout + 1 for s in ordered) / len(ordered), 4),
        statuses=dict(statuses.most_common()),
        rss_before_mib=round(rss_before, 1),
        rss_peak_mib=round(peak[0], 1),
        rss_after_mib=round(rss_after, 1),
        health_statuses=dict(collections.Counter(status for status, _ in health).most_common()),
        health_p50_s=round(statistics.median(health_latencies), 3) if health else 0.0,
        health_max_s=round(max(health_latencies), 3) if health else 0.0,
        wall_s=round(wall, 1),
    )


async def load(
    base: str, requests: int, timeout: float, ramp: float
) -> tuple[list[float], collections.Counter[str], list[tuple[str, float]]]:
    """N GETs at once, each on its own connection and bounded in time; health checks aside."""
    bound = 3 * timeout + 30  # a request that takes longer counts as a client timeout
    statuses: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    health: list[tuple[str, float]] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def one(url: str, seconds: float) -> tuple[str, float]:
            started = time.monotonic()
            try:
                async with client.get(url, timeout=aiohttp.ClientTimeout(total=seconds)) as r:
                    await r.read()
                    status = str(r.status)
            except TimeoutError:
                status = "client timeout"
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            return status, time.monotonic() - started

        async def request(start: float) -> None:
            await asyncio.sleep(start - time.monotonic())
            status, seconds = await one(base + "/", bound)
            statuses[status] += 1
            latencies.append(seconds)

        async def probe(stop: asyncio.Event) -> None:
            # What a load balancer sees: a check every 0.5 s, 5 s to answer.
            while not stop.is_set():
                health.append(await one(base + "/health/", 5))
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

        stop = asyncio.Event()
        prober = asyncio.create_task(probe(stop))
        begin = time.monotonic()
        async with asyncio.timeout(ramp + bound + 30):
            await asyncio.gather(*(request(begin + ramp * i / requests) for i in range(requests)))
        stop.set()
        await prober
    return latencies, statuses, health


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


@contextmanager
def hung_upstream() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that reads requests and never answers; yields its port."""
    started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = queue.Queue()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(hold, "127.0.0.1", 0, backlog=4096)
        stop = asyncio.Event()
        started.put((asyncio.get_running_loop(), stop, server.sockets[0].getsockname()[1]))
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    loop, stop, port = started.get(timeout=10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def table(outcomes: Sequence[Outcome]) -> str:
    """The results as a Markdown table, one column per run."""
    rows: list[tuple[str, Any]] = [
        ("worker_connections", lambda o: o.worker_connections),
        ("requests", lambda o: f"{o.requests:,} " + _arrival(o)),
        ("p50 latency", lambda o: f"{o.p50_s:.2f} s"),
        ("p99 latency", lambda o: f"{o.p99_s:.2f} s"),
        ("answered within TIMEOUT + 1 s", lambda o: f"{o.within_timeout_share:.1%}"),
        ("503 (shed)", lambda o: f"{o.statuses.get('503', 0):,}"),
        ("504 (upstream timeout)", lambda o: f"{o.statuses.get('504', 0):,}"),
        ("other", lambda o: _others(o.statuses)),
        ("worker RSS before / peak / after", lambda o: _rss(o)),
        ("health checks (status: count)", lambda o: _counts(o.health_statuses)),
        ("health check p50 / max", lambda o: f"{o.health_p50_s:.2f} s / {o.health_max_s:.2f} s"),
        ("wall time", lambda o: f"{o.wall_s:.1f} s"),
    ]
    header = "| | " + " | ".join(o.mode for o in outcomes) + " |"
    lines = [header, "| --- |" + " ---: |" * len(outcomes)]
    lines += [f"| {name} | " + " | ".join(get(o) for o in outcomes) + " |" for name, get in rows]
    return "\n".join(lines)


def _arrival(o: Outcome) -> str:
    return f"over {o.ramp_s:g} s" if o.ramp_s else "at once"


def _others(statuses: dict[str, int]) -> str:
    rest = {k: v for k, v in statuses.items() if k not in {"503", "504"}}
    return _counts(rest) or "0"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value:,}" for key, value in counts.items())


def _rss(o: Outcome) -> str:
    return f"{o.rss_before_mib:.0f} / {o.rss_peak_mib:.0f} / {o.rss_after_mib:.0f} MiB"


if __name__ == "__main__":
    sys.exit(main())
