"""``python -m bench``: run the benchmark, write the results, check the harness."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import chart, machine, report, runner, summary, wrk
from bench.plan import Settings, build
from bench.processes import ROOT, Cores
from bench.progress import Progress
from bench.results import RunResult

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"
# Ignored by git: server logs, and the output of smoke runs.
SCRATCH = RESULTS / "tmp"

SMOKE = Settings(
    rounds=1,
    remote_rounds=1,
    warmup_s=1,
    duration_s=1,
    remote_duration_s=1,
    concurrencies=(16,),
    burn_in_s=0,
    quiet_budget_s=0.0,
    micro_number=100_000,
    micro_repeat=3,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if the harness broke (errors, no requests, leaks)."""
    args = _parser().parse_args(argv)
    settings = _settings(args)
    output: Path = args.output or (SCRATCH / "smoke" if args.smoke else RESULTS)
    if args.render:
        _render(report.read_json(output / "results.json"), output)
        return 0
    logs = SCRATCH / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    output.mkdir(parents=True, exist_ok=True)
    cores = Cores.detect()
    try:
        described = machine.describe(cores)
    except wrk.WrkMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    progress = Progress(sum(len(phase.runs) for phase in build(settings)))
    progress.say(f"sessionhub benchmark: {described['pinning']}; logs in {logs}")
    outcome = runner.run(settings, cores=cores, log_dir=logs, progress=progress)
    groups = summary.group(outcome.runs)
    found = report.Report(
        command=shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        date=date,
        machine=described,
        settings=settings,
        outcome=outcome,
        groups=groups,
        targets=summary.targets(groups, outcome.microbench),
    )
    report.write_json(output / "results.json", found)
    _render(found, output)
    progress.say(f"--- results in {output}; took {outcome.wall_s / 60:.1f} minutes")
    if args.smoke:
        progress.say("--- targets, for show: one-second runs are too short to judge them")
    for target in found.targets:
        verdict = "met   " if target.met else "MISSED"
        progress.say(
            f"{verdict} {target.name}: {target.measured:.3f} "
            f"(needs {target.comparison} {target.limit:g}; {target.detail})"
        )
    problems = _problems(outcome.runs, outcome.server_trouble)
    for problem in problems:
        print(f"HARNESS PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _render(found: report.Report, output: Path) -> None:
    """Write the Markdown and the chart of ``found`` to ``output``."""
    chart.draw(
        output / "chart.png",
        found.groups,
        found.outcome.microbench,
        f"{found.command} · {found.date} · {found.machine['cpu']}, {found.machine['cores']} cores",
    )
    report.write_markdown(output / "results.md", found, chart="chart.png")


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark sessionhub against a session per request, a module-global "
        "session, django-asgi-lifespan and a bare ASGI app.",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a run of seconds that only checks the harness"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"runs per variant and load ({defaults.rounds}; remote API: "
        f"{defaults.remote_rounds})",
    )
    parser.add_argument(
        "--duration",
        type=int,
        help=f"measured seconds per run ({defaults.duration_s}; remote API: "
        f"{defaults.remote_duration_s})",
    )
    parser.add_argument(
        "--warmup", type=int, help=f"warm-up seconds before each run ({defaults.warmup_s})"
    )
    parser.add_argument(
        "--concurrency",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        help="open connections, comma-separated (32,128)",
    )
    parser.add_argument(
        "--upstream-delay-ms", type=float, help="the upstream waits this long before answering"
    )
    parser.add_argument("--no-remote", action="store_true", help="skip the remote-API phase")
    parser.add_argument(
        "--output", type=Path, help="results folder (bench/results; smoke: bench/results/tmp)"
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="only draw results.md and chart.png again from results.json in the output folder",
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    changes: dict[str, Any] = {
        "rounds": args.rounds,
        "remote_rounds": args.rounds,
        "duration_s": args.duration,
        "remote_duration_s": args.duration,
        "warmup_s": args.warmup,
        "concurrencies": args.concurrency,
        "upstream_delay_ms": args.upstream_delay_ms,
    }
    if args.no_remote:
        changes["remote"] = False
    base = SMOKE if args.smoke else Settings()
    return dataclasses.replace(
        base, **{key: value for key, value in changes.items() if value is not None}
    )


def _problems(runs: Sequence[RunResult], trouble: dict[str, list[str]]) -> list[str]:
    """What says the harness, not the code under test, is broken."""
    problems = []
    for run in runs:
        where = f"{run.phase} {run.scheme} c={run.concurrency} {run.variant} round {run.round}"
        if run.requests == 0 or run.upstream_requests == 0:
            problems.append(f"{where}: no requests served")
        if run.errors:
            problems.append(f"{where}: {run.errors} errors")
        if run.variant == "per-request" and run.connections_per_request < 0.9:
            problems.append(
                f"{where}: {run.connections_per_request:.3f} new connections per request; "
                "the upstream's connection counter is broken"
            )
    for name, lines in trouble.items():
        for line in lines:
            # A module-global session is never closed: that it leaks is the point.
            if name.endswith("module-global") and "Unclosed" in line:
                continue
            problems.append(f"server log of {name}: {line.strip()}")
    return problems
