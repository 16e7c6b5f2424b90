"""``python -m bench.hooks_cost``: what sessionhub's pool hooks cost per upstream call.

Sequential GETs to a local upstream that answers at once, on one pooled
connection, through three sessions with the same connector and timeouts:

- ``plain``: an ``aiohttp.ClientSession`` without hooks;
- ``hooks``: built by ``sessionhub.factories.aiohttp_session``: its client
  middleware, connector and socket factory, and the refusal check
  (OpenTelemetry's API installed, no SDK: what a project without a meter
  provider runs);
- ``hooks + OpenTelemetry SDK``: the same, recording into an SDK meter
  provider with an in-memory reader.

Each round times ``--calls`` calls per session, the sessions in turn; the
result is the median time per call over ``--rounds`` rounds, and the median
of each round's ratio to ``plain``'s. It writes ``hooks-cost.json`` and ``hooks-cost.md`` to
``bench/results/``. The client runs on one core, the upstream on the other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp

from bench import loops
from bench.processes import ROOT, Cores, spawn

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"


def main(argv: Sequence[str] | None = None) -> int:
    """Time the three sessions; print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    cores = Cores.detect()
    logs = RESULTS / "tmp" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with spawn("hooks-upstream", ["python", "-m", "bench.slow_upstream"], core=cores.load,
               cores=cores, log_dir=logs) as upstream:  # fmt: skip
        port = int(upstream.wait_for(r"listening on (\d+)").group(1))
        if cores.server is not None:
            os.sched_setaffinity(0, {cores.server})
        per_call = loops.run(lambda: measure(f"http://127.0.0.1:{port}/", args.calls, args.rounds))
    plain = per_call["plain"]
    results = {
        name: {
            "us_per_call": round(statistics.median(us), 2),
            # Each round's time against plain's in the same round: paired, so
            # that what the machine's other work does to both cancels out.
            "ratio": round(statistics.median(a / b for a, b in zip(us, plain, strict=True)), 4),
        }
        for name, us in per_call.items()
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "hooks-cost.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["| session | µs per call (median) | ÷ plain (median of rounds) |"]
    lines.append("| --- | ---: | ---: |")
    lines += [f"| {n} | {r['us_per_call']:.1f} | {r['ratio']:.3f} |" for n, r in results.items()]
    table = "\n".join(lines) + f"\n\n{args.rounds} rounds of {args.calls:,} calls each.\n"
    (args.output / "hooks-cost.md").write_text(table)
    print(table)
    return 0


async def measure(url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    """µs per call of each session, round by round."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from sessionhub import telemetry
    from sessionhub.factories import aiohttp_session
    from sessionhub.options import ClientConfig

    config = ClientConfig(name="default")
    plain = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=config.limit, limit_per_host=config.limit_per_host),
        timeout=aiohttp.ClientTimeout(total=config.timeout, sock_connect=config.connect_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    hooked = aiohttp_session(config)
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def with_sdk(on: bool) -> None:
        telemetry.use(provider if on else None)

    sessions: list[tuple[str, aiohttp.ClientSession, Callable[[bool], None]]] = [
        ("plain", plain, lambda on: None),
        ("hooks", hooked, lambda on: None),
        ("hooks + OpenTelemetry SDK", hooked, with_sdk),
    ]
    timings: dict[str, list[float]] = {name: [] for name, _, _ in sessions}
    try:
        for session in (plain, hooked):  # open the pooled connection, warm up
            await _calls(session, url, calls)
        for index in range(rounds):
            turn = sessions[index % 3 :] + sessions[: index % 3]
            for name, session, setup in turn:
                setup(True)
                try:
                    timings[name].append(await _calls(session, url, calls) / calls * 1e6)
                finally:
                    setup(False)
            print(f"round {index + 1}/{rounds}", file=sys.stderr, flush=True)
    finally:
        await plain.close()
        await hooked.close()
        provider.shutdown()
    return timings


async def _calls(session: aiohttp.ClientSession, url: str, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        async with session.get(url) as response:
            await response.read()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
