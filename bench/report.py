"""Write the results: JSON with every run, and a Markdown summary."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plan import Settings
from bench.results import RunResult
from bench.runner import Outcome
from bench.summary import Group, Target, group, targets
from bench.variants import LOCAL

__all__ = ["Report", "markdown", "read_json", "write_json", "write_markdown"]

_LABELS = {variant.key: variant.label for variant in LOCAL}


@dataclass(frozen=True)
class Report:
    """What a benchmark run found, and where and how."""

    command: str
    date: str
    machine: dict[str, Any]
    settings: Settings
    outcome: Outcome
    groups: Sequence[Group]
    targets: Sequence[Target]


def write_json(path: Path, report: Report) -> None:
    """Everything, including every single run, for whoever wants to dig."""
    settings, outcome, groups, targets = (
        report.settings,
        report.outcome,
        report.groups,
        report.targets,
    )
    data = {
        "command": report.command,
        "date": report.date,
        "machine": report.machine,
        "settings": dataclasses.asdict(settings),
        "wall_s": round(outcome.wall_s, 1),
        "waited_for_quiet_s": round(outcome.waited_s, 1),
        "targets": [{**dataclasses.asdict(t), "met": t.met} for t in targets],
        "groups": [dataclasses.asdict(g) for g in groups],
        "runs": [
            {
                **dataclasses.asdict(run),
                "connections_per_request": run.connections_per_request,
                "steady_connections_per_request": run.steady_connections_per_request,
            }
            for run in outcome.runs
        ],
        "microbench": outcome.microbench,
        "server_trouble": outcome.server_trouble,
        "server_known_complaints": outcome.server_known,
    }
    path.write_text(json.dumps(_finite(data), indent=2) + "\n", encoding="utf-8")


def read_json(path: Path) -> Report:
    """Load what ``write_json`` wrote, to draw the Markdown and chart again."""
    data = json.loads(path.read_text(encoding="utf-8"))
    settings = data["settings"]
    for name in ("concurrencies", "schemes"):
        settings[name] = tuple(settings[name])
    fields = {f.name for f in dataclasses.fields(RunResult)}
    runs = [
        RunResult(**{key: _nan(value) for key, value in run.items() if key in fields})
        for run in data["runs"]
    ]
    outcome = Outcome(
        runs=runs,
        microbench=data["microbench"],
        server_trouble=data["server_trouble"],
        server_known=data["server_known_complaints"],
        waited_s=data["waited_for_quiet_s"],
        wall_s=data["wall_s"],
    )
    groups = group(runs)
    return Report(
        command=data["command"],
        date=data["date"],
        machine=data["machine"],
        settings=Settings(**settings),
        outcome=outcome,
        groups=groups,
        targets=targets(groups, outcome.microbench),
    )


def _nan(value: Any) -> Any:
    return float("nan") if value is None else value


def _finite(value: Any) -> Any:
    """NaN (a ratio with nothing to divide by) becomes null, which JSON has."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_markdown(path: Path, report: Report, chart: str | None) -> None:
    """The tables the README shows."""
    path.write_text(markdown(report, chart), encoding="utf-8")


def markdown(report: Report, chart: str | None) -> str:
    """The Markdown text of the results; ``chart`` is the image's path relative to it."""
    settings, outcome, groups, targets = (
        report.settings,
        report.outcome,
        report.groups,
        report.targets,
    )
    machine = report.machine
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    lines = [
        "# sessionhub benchmark results",
        "",
        f"Made by `{report.command}` on {report.date} in {outcome.wall_s / 60:.1f} minutes, "
        f"at commit `{machine['sessionhub_commit']}`.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['os']}, kernel {machine['kernel']}. Python {machine['python']}, "
        f"{packages}; {machine['wrk']}. Pinning: {machine['pinning']}. Load average at "
        f"start: {', '.join(str(x) for x in machine['load_average_at_start'])}.",
        "",
    ]
    if chart:
        lines += [f"![Requests per second and remote-API latency]({chart})", ""]
    lines += _summary(groups, settings)
    lines += [
        "## A Django async view proxying to a local upstream",
        "",
        f"Each variant is its own uvicorn process (uvloop, httptools, one worker) with the "
        f"same Django settings. wrk (one thread) loads it for {settings.duration_s} s after a "
        f"{settings.warmup_s} s warm-up; every variant runs {settings.rounds} times, "
        f"interleaved with the others. req/s is the median run, with the slowest and "
        f"fastest; p50 and p99 are medians over the runs. New conns/req is the TCP "
        f"connections the upstream accepted per request it served, over the whole run and "
        f"in steady state (leaving out the first and last second). The whole-run figure of "
        f"a pooled session includes the connections it reopens after the previous load "
        f"stopped: wrk drops its connections mid-request, Django cancels those views, and "
        f"aiohttp closes an upstream connection whose answer was not read. Others' CPU is "
        f"the share of the machine that processes other than the benchmark's used during "
        f"a run (the worst run of each row): the machine may be shared. When they used "
        f"more than {settings.quiet_share:.0%} during a warm-up, the run waited and warmed "
        f"up again, for at most {settings.quiet_budget_s:g} s in all (this time: "
        f"{outcome.waited_s:.0f} s). The upstream answers {_delay(settings)}.",
        "",
    ]
    local = [g for g in groups if g.phase == "local"]
    for scheme, concurrency in sorted({(g.scheme, g.concurrency) for g in local}):
        members = [g for g in local if (g.scheme, g.concurrency) == (scheme, concurrency)]
        ours = next((g.rps for g in members if g.variant == "sessionhub"), float("nan"))
        lines += [
            f"### {scheme.upper()}, {concurrency} connections",
            "",
            "| Variant | req/s (min–max) | × sessionhub | p50 ms | p99 ms | errors "
            "| new conns/req (whole / steady) | others' CPU, max |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {_LABELS[g.variant]} | {g.rps:,.0f} ({g.rps_min:,.0f}–{g.rps_max:,.0f}) "
            f"| {g.rps / ours:.2f} | {g.p50_ms:.1f} | {g.p99_ms:.1f} | {g.errors} "
            f"| {_conns(g)} | {_share(g.other_cpu_max)} |"
            for g in members
        ]
        lines.append("")
    remote = [g for g in groups if g.phase == "remote"]
    if remote:
        lines += [
            f"## Remote API: HTTPS with a {settings.remote_rtt_ms:g} ms round trip",
            "",
            f"The same views, calling the HTTPS upstream through a proxy on loopback that "
            f"delays every packet by {settings.remote_rtt_ms / 2:g} ms each way and holds "
            f"every new connection for one round trip (the TCP handshake), so each new "
            f"connection pays its TCP and TLS round trips as it would across the internet. "
            f"{remote[0].concurrency} connections, so that the server is not saturated and "
            f"latency shows what the network costs; {settings.remote_rounds} runs of "
            f"{settings.remote_duration_s} s per variant.",
            "",
            "| Variant | p50 ms | p99 ms | req/s (min–max) | errors "
            "| new conns/req (whole / steady) | others' CPU, max |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {_LABELS[g.variant]} | {g.p50_ms:.1f} | {g.p99_ms:.1f} "
            f"| {g.rps:,.0f} ({g.rps_min:,.0f}–{g.rps_max:,.0f}) | {g.errors} "
            f"| {_conns(g)} | {_share(g.other_cpu_max)} |"
            for g in remote
        ]
        lines.append("")
    micro = outcome.microbench
    if micro:
        ns = micro["ns_per_call"]
        base = ns["dict keyed by running loop"]
        lines += [
            "## `sessionhub.get()` on a warm loop",
            "",
            f"ns per call inside a coroutine on a running {micro['loop']} loop: best of "
            f"{micro['repeat']} × {micro['number']:,} calls with `timeit`, minus its empty "
            f"loop ({micro['empty_loop_ns']:.1f} ns).",
            "",
            "| What | Statement | ns/call | × dict keyed by loop |",
            "| --- | --- | ---: | ---: |",
        ]
        lines += [
            f"| {name} | `{micro['statements'][name]}` | {value:.1f} | {value / base:.2f} |"
            for name, value in ns.items()
        ]
        lines.append("")
    if targets:
        lines += [
            "## Targets",
            "",
            "| Target | Measured | Needed | Met | Numbers |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        lines += [
            f"| {t.name} | {t.measured:.3f} | {t.comparison} {t.limit:g} "
            f"| {'yes' if t.met else '**no**'} | {t.detail} |"
            for t in targets
        ]
        lines.append("")
    if outcome.server_trouble or outcome.server_known:
        lines += ["## Server logs", ""]
        for name, trouble in outcome.server_trouble.items():
            lines.append(f"- `{name}`: {len(trouble)} line(s), first: `{trouble[0].strip()}`")
        for name, known in outcome.server_known.items():
            lines += [
                f"- `{name}`: {meaning}, {count} time(s)" for meaning, count in known.items()
            ]
        lines.append("")
    return "\n".join(lines)


def _summary(groups: Sequence[Group], settings: Settings) -> list[str]:
    """Median req/s of every variant under every load, and the remote API's p50, in one table."""
    loads = sorted({(g.scheme, g.concurrency) for g in groups if g.phase == "local"})
    found = {g.key: g for g in groups}
    header = [f"{scheme.upper()} c={concurrency}" for scheme, concurrency in loads]
    remote = any(g.phase == "remote" for g in groups)
    if remote:
        header.append(f"remote API p50 (c={settings.remote_concurrency})")
    lines = [
        "## Summary",
        "",
        "Median requests/s of each variant under each load (c: open connections), and "
        "the median p50 latency against the remote API.",
        "",
        "| Variant | " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * len(header),
    ]
    for key, label in _LABELS.items():
        cells = []
        for scheme, concurrency in loads:
            g = found.get(("local", scheme, concurrency, key))
            cells.append(f"{g.rps:,.0f}" if g else "")
        if remote:
            g = found.get(("remote", "https", settings.remote_concurrency, key))
            cells.append(f"{g.p50_ms:.1f} ms" if g else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _conns(group: Group) -> str:
    values = (group.connections_per_request, group.steady_connections_per_request)
    return " / ".join("n/a" if math.isnan(value) else f"{value:.3f}" for value in values)


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def _delay(settings: Settings) -> str:
    if settings.upstream_delay_ms:
        return f"after {settings.upstream_delay_ms:g} ms"
    return "at once"
