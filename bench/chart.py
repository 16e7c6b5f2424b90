"""Draw the results as one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
matplotlib.rcParams["svg.hashsalt"] = "sessionhub"  # the same ids in every SVG drawn

import matplotlib.pyplot as plt  # noqa: E402

from bench.summary import Group  # noqa: E402
from bench.variants import LOCAL  # noqa: E402

__all__ = ["draw"]

_COLORS = {
    "per-request": "#c44e52",
    "module-global": "#8c8c8c",
    "sessionhub": "#4c72b0",
    "django-asgi-lifespan": "#55a868",
    "bare-asgi": "#dd8452",
}
_MICRO = ("sessionhub.get()", "dict keyed by running loop", "module global")


def draw(path: Path, groups: Sequence[Group], microbench: dict[str, Any], title: str) -> None:
    """Throughput per load on top; remote-API latency and get()'s cost below."""
    figure = plt.figure(figsize=(12, 8.5), layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=(1.2, 1))
    _throughput(figure.add_subplot(grid[0, :]), [g for g in groups if g.phase == "local"])
    _remote(figure.add_subplot(grid[1, 0]), [g for g in groups if g.phase == "remote"])
    _micro(figure.add_subplot(grid[1, 1]), microbench)
    figure.suptitle(title, fontsize=10)
    # An SVG (the documentation's copy) without a date, so that drawing the
    # same results again changes nothing.
    metadata = {"Date": None} if path.suffix == ".svg" else None
    figure.savefig(path, dpi=110, metadata=metadata)
    plt.close(figure)


def _throughput(axes: Any, groups: Sequence[Group]) -> None:
    loads = sorted({(g.scheme, g.concurrency) for g in groups})
    variants = [v for v in LOCAL if any(g.variant == v.key for g in groups)]
    width = 0.8 / max(1, len(variants))
    found = {(g.scheme, g.concurrency, g.variant): g for g in groups}
    for index, variant in enumerate(variants):
        xs, heights, low, high = [], [], [], []
        for x, (scheme, concurrency) in enumerate(loads):
            g = found.get((scheme, concurrency, variant.key))
            if g is None:
                continue
            xs.append(x - 0.4 + width * (index + 0.5))
            heights.append(g.rps)
            low.append(g.rps - g.rps_min)
            high.append(g.rps_max - g.rps)
        axes.bar(
            xs,
            heights,
            width,
            yerr=[low, high],
            capsize=2,
            label=variant.label,
            color=_COLORS[variant.key],
        )
    axes.set_xticks(
        range(len(loads)), [f"{scheme.upper()}, {c} connections" for scheme, c in loads]
    )
    axes.set_ylabel("requests/s (median, min–max)")
    axes.set_title("Django async view proxying to a local upstream")
    # Room above the tallest bar for the legend.
    axes.set_ylim(0, max((g.rps_max for g in groups), default=1) * 1.22)
    axes.legend(fontsize=8, ncols=3, loc="upper center")
    axes.grid(axis="y", alpha=0.3)


def _remote(axes: Any, groups: Sequence[Group]) -> None:
    axes.set_title("Remote API: HTTPS, 20 ms round trip")
    if not groups:
        axes.set_axis_off()
        return
    labels = [g.variant for g in groups]
    xs = range(len(groups))
    colors = [_COLORS[g.variant] for g in groups]
    axes.bar([x - 0.2 for x in xs], [g.p50_ms for g in groups], 0.4, color=colors, label="p50")
    axes.bar(
        [x + 0.2 for x in xs],
        [g.p99_ms for g in groups],
        0.4,
        color=colors,
        alpha=0.5,
        hatch="//",
        label="p99",
    )
    axes.set_xticks(list(xs), labels)
    axes.set_ylabel("latency, ms (median of runs)")
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)


def _micro(axes: Any, microbench: dict[str, Any]) -> None:
    axes.set_title("Cost of getting the session, warm loop")
    ns = microbench.get("ns_per_call", {})
    names = [name for name in _MICRO if name in ns]
    if not names:
        axes.set_axis_off()
        return
    values = [ns[name] for name in names]
    axes.barh(range(len(names)), values, color=["#4c72b0", "#8172b3", "#8c8c8c"][: len(names)])
    axes.set_yticks(range(len(names)), names)
    axes.invert_yaxis()
    axes.set_xlabel("ns per call")
    for y, value in enumerate(values):
        axes.text(value, y, f" {value:.0f}", va="center", fontsize=8)
    axes.grid(axis="x", alpha=0.3)
