"""``overload.md`` and ``overload.png`` from ``overload.json``, a column or line per variant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402

from bench.overload_variants import VARIANTS  # noqa: E402

__all__ = ["write"]

# (scenario, what the row shows, its figure from the scenario's results)
Row = tuple[str, str, Callable[[dict[str, Any]], str]]
_COLORS = ["#c44e52", "#4c72b0", "#55a868", "#8172b3", "#dd8452"]


def write(stored: dict[str, Any], output: Path) -> None:
    """Write the table and the chart for every variant in ``stored``."""
    runs = {name: stored["runs"][name] for name in VARIANTS if name in stored["runs"]}
    (output / "overload.md").write_text(table(runs) + "\n")
    chart(runs, output / "overload.png")


def table(runs: dict[str, dict[str, Any]]) -> str:
    """One Markdown table: a row per figure, a column per variant."""
    lines = [
        "| scenario | figure | " + " | ".join(runs) + " |",
        "| --- | --- |" + " ---: |" * len(runs),
    ]
    for scenario, label, get in _rows():
        key = scenario.partition(" ")[0]  # "overload 2x" reads the "overload" results
        cells = []
        for run in runs.values():
            found = run["scenarios"].get(key)
            cells.append(get(found) if found else "")
        lines.append(f"| {scenario} | {label} | " + " | ".join(cells) + " |")
    provenance = ", ".join(f"{n}: {r.get('commit', '?')} {r.get('date', '')}" for n, r in
                           runs.items())  # fmt: skip
    return "\n".join(lines) + f"\n\nRuns: {provenance}."


def _rows() -> list[Row]:
    rows: list[Row] = [
        ("idle", "200s, no idle sockets: p50 / p99", lambda r: _pair(r["baseline"]["ok"])),
        ("idle", "with 1,000 idle sockets: statuses", lambda r: _counts(r["held"]["statuses"])),
        ("idle", "with them: p50 / p99 of 200s", lambda r: _pair(r["held"]["ok"])),
        ("idle", "with them: health checks", lambda r: _counts(r["held"]["health"]["statuses"])),
        ("idle", "idle sockets the worker closed", lambda r: f"{r['idle_closed_by_server']:,}"),
        ("idle", "worker RSS peak", lambda r: f"{r['rss_mib']['peak']:.0f} MiB"),
        ("slow", "statuses", lambda r: _counts(r["statuses"])),
        ("slow", "latency p50 / p99 / max", lambda r: _triple(r["all"])),
        ("slow", "answered within TIMEOUT + 1 s", _within),
        ("slow", "health checks", lambda r: _counts(r["health"]["statuses"])),
    ]
    for scenario in ("hung", "hung-burst"):
        rows += [
            (scenario, "statuses", lambda r: _counts(r["statuses"])),
            (scenario, "answered within TIMEOUT + 1 s", _within),
            (scenario, "503s: p99 latency, with Retry-After", lambda r: _shed(r)),
            (scenario, "health checks", lambda r: _counts(r["health"]["statuses"])),
            (scenario, "health check max latency", lambda r: _seconds(r["health"]["all"], "max")),
            (scenario, "worker RSS before / peak / after", lambda r: _rss(r["rss_mib"])),
        ]  # fmt: skip
    for load in ("0.5", "1", "2", "5"):
        rows += _load_rows(load)
    return rows


def _load_rows(factor: str) -> list[Row]:
    def goodput(result: dict[str, Any]) -> str:
        load = _load(result, factor)
        share = load["goodput_rps"] / min(load["offered_rps"], result["capacity_rps"])
        return f"{load['goodput_rps']:.1f}/s ({share:.0%})"

    where = f"overload {factor}x"
    return [
        (where, "goodput (of capacity)", goodput),
        (where, "p50 / p99 of 200s", lambda r: _pair(_load(r, factor)["ok"])),
        (where, "statuses", lambda r: _counts(_load(r, factor)["statuses"])),
        (where, "health checks", lambda r: _counts(_load(r, factor)["health"]["statuses"])),
    ]


def _within(result: dict[str, Any]) -> str:
    return f"{result['within_timeout_plus_1']:.1%}"


def _load(result: dict[str, Any], factor: str) -> dict[str, Any]:
    load: dict[str, Any] = result["loads"][factor]
    return load


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value:,}" for key, value in counts.items()) or "none"


def _seconds(percentiles: dict[str, float], key: str) -> str:
    return f"{percentiles[key]:.2f} s" if key in percentiles else "-"


def _pair(p: dict[str, float]) -> str:
    return f"{_seconds(p, 'p50')} / {_seconds(p, 'p99')}" if p else "-"


def _triple(p: dict[str, float]) -> str:
    return f"{_pair(p)} / {_seconds(p, 'max')}" if p else "-"


def _shed(result: dict[str, Any]) -> str:
    return f"{_seconds(result['shed'], 'p99')}, {result['shed_with_retry_after']:,}"


def _rss(rss: dict[str, float]) -> str:
    return f"{rss['before']:.0f} / {rss['peak']:.0f} / {rss['after']:.0f} MiB"


def chart(runs: dict[str, dict[str, Any]], path: Path) -> None:
    """Goodput and the p99 latency of 200s against offered load, a line per variant."""
    figure, (goodput, latency) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    capacity = 0.0
    for color, (name, run) in zip(_COLORS, runs.items(), strict=False):
        result = run["scenarios"].get("overload")
        if not result:
            continue
        capacity = result["capacity_rps"]
        loads = sorted(result["loads"].values(), key=lambda load: load["offered_rps"])
        offered = [load["offered_rps"] for load in loads]
        goodput.plot(offered, [load["goodput_rps"] for load in loads], "o-", color=color,
                     label=name)  # fmt: skip
        latency.plot(offered, [load["ok"].get("p99", float("nan")) for load in loads], "o-",
                     color=color, label=name)  # fmt: skip
    if capacity:
        goodput.axhline(capacity, color="#8c8c8c", ls="--", lw=1, label="upstream capacity")
        goodput.axhline(0.9 * capacity, color="#8c8c8c", ls=":", lw=1, label="90% of it")
    latency.axhline(10, color="#8c8c8c", ls="--", lw=1, label="TIMEOUT")
    goodput.set(xlabel="offered load, requests/s", ylabel="200s per second",
                title="Goodput, one worker, upstream serving 50/s")  # fmt: skip
    latency.set(xlabel="offered load, requests/s", ylabel="seconds",
                title="p99 latency of the requests answered 200")  # fmt: skip
    for axes in (goodput, latency):
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)
