"""Draw the site's pictures from real runs: ``python -m docs.pictures [NAME ...]``.

NAME is ``lifespan``, ``shutdown``, ``module-global``, ``benchmark`` or
``overload``; none
draws them all. ``docs/contributing.md`` says what each one runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from docs.pictures import runs, svg
from sessionhub.workers import MARGIN, plan

HERE = Path(__file__).resolve().parent
GREEN, ORANGE, GREY, BLUE, PURPLE, TEAL = (
    "#2da44e",
    "#d4a72c",
    "#8c959f",
    "#4c72b0",
    "#8250df",
    "#1b7c83",
)


def lifespan() -> str:
    participants = list(runs.PARTICIPANTS.values())
    title = "One worker's lifespan under uvicorn: startup, a request, SIGTERM"
    return svg.sequence(title, participants, runs.lifespan_messages())


def module_global() -> str:
    messages = runs.module_global_messages()
    participants = ["Django test client", "async view", "module-global session", "sessionhub"]
    title = "Two requests, each on a loop of its own: a module-global session, then sessionhub"
    return svg.sequence(title, participants, messages)


def shutdown() -> str:
    run = runs.gunicorn_shutdown()
    budget = plan(run.graceful, run.drain, 5.0, 5.0)
    spans, marks = [], []
    start = 0.0
    for label, seconds, color in (
        ("drain", budget.drain, ORANGE),
        ("requests in flight", budget.requests, BLUE),
        ("shutdown", budget.shutdown, PURPLE),
        ("close", budget.close, TEAL),
        ("margin", MARGIN, GREY),
    ):
        spans.append(svg.Span("budget (planned)", start, start + seconds, label, color))
        start += seconds
    rows = ["budget (planned)"]
    for number, (pid, seen) in enumerate(sorted(run.workers.items()), 1):
        row = f"worker {number} (pid {pid})"
        rows.append(row)
        steps = [
            ("begun", "stopped", "drain", ORANGE),
            ("stopped", "lifespan", "requests", BLUE),
            ("lifespan", "closed", "", PURPLE),
        ]
        for first, then, label, color in steps:
            if first in seen and then in seen:
                spans.append(svg.Span(row, seen[first], seen[then], label, color))
        if "closed" in seen:
            marks.append(svg.Mark(row, seen["closed"], "clients closed", TEAL))
        if "exited" in seen:
            marks.append(svg.Mark(row, seen["exited"], "", INK_MARK))
    for index, (sent, answered, status) in enumerate(run.requests, 1):
        row = f"request {index}"
        rows.append(row)
        spans.append(svg.Span(row, sent, answered, "", GREEN if status == 200 else ORANGE))
        marks.append(svg.Mark(row, answered, f"{status or 'no answer'}", GREEN))
    rows.append("GET /health/")
    for at, status in run.health:
        color = {200: GREEN, 503: ORANGE}.get(status, GREY)
        marks.append(svg.Mark("GET /health/", at, "", color))
    legend = [
        (GREEN, "200"),
        (ORANGE, "503 (health: stopping)"),
        (GREY, "connection refused"),
        (TEAL, "lifespan finished, clients closed"),
        (INK_MARK, "process exits"),
    ]
    rows.append("gunicorn")
    marks.append(svg.Mark("gunicorn", run.exited, f"exits at {run.exited:.1f} s", INK_MARK))
    lines = [(0.0, "SIGTERM"), (run.graceful, "graceful_timeout: SIGKILL")]
    title = (
        f"A real shutdown of the reference deployment: 2 workers, graceful_timeout "
        f"{run.graceful:g} s, drain {run.drain:g} s"
    )
    return svg.timeline(title, rows, spans, marks, -1, run.graceful + 1, lines, legend)


INK_MARK = "#1f2328"


def benchmark() -> str:
    from bench import chart, report

    found = report.read_json(Path("bench/results/results.json"))
    path = HERE / "benchmark.svg"
    title = (
        f"{found.command} · {found.date} · {found.machine['cpu']}, {found.machine['cores']} cores"
    )
    chart.draw(path, found.groups, found.outcome.microbench, title)
    return path.read_text(encoding="utf-8")


def overload() -> str:
    import json

    from bench import overload_report

    stored = json.loads(Path("bench/results/overload.json").read_text(encoding="utf-8"))
    path = HERE / "overload.svg"
    overload_report.chart(stored["runs"], path)
    return path.read_text(encoding="utf-8")


PICTURES: dict[str, Callable[[], str]] = {
    "lifespan": lifespan,
    "shutdown": shutdown,
    "module-global": module_global,
    "benchmark": benchmark,
    "overload": overload,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*PICTURES, []], metavar="NAME")
    for name in parser.parse_args().names or PICTURES:
        text = PICTURES[name]()
        (HERE / f"{name}.svg").write_text(text, encoding="utf-8")
        print(f"docs/pictures/{name}.svg: {len(text):,} bytes")


if __name__ == "__main__":
    main()
