"""Two small SVG drawings: a sequence diagram and a timeline. Plain text out, no dependencies.

Each SVG has a white background, so that it reads in the site's dark mode
too, and a ``<desc>`` that lists what it shows, one item a line: the tests
compare that list with a new run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
CHAR = 7.2  # width of a character of FONT at 12 px, near enough to lay out labels
INK, MUTED, ACCENT = "#1f2328", "#656d76", "#4c72b0"


@dataclass(frozen=True)
class Message:
    """An arrow of a sequence diagram, or a note when ``source == target``."""

    source: str
    target: str
    label: str
    reply: bool = False


def _svg(width: float, height: float, desc: Sequence[str], body: list[str], title: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{SANS}" font-size="12">\n'
        f"<title>{escape(title)}</title>\n<desc>\n{escape(chr(10).join(desc))}\n</desc>\n"
        f'<rect width="100%" height="100%" rx="6" fill="#ffffff"/>\n'
    )
    return head + "\n".join(body) + "\n</svg>\n"


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def sequence(title: str, participants: Sequence[str], messages: Sequence[Message]) -> str:
    """A sequence diagram: a lifeline per participant, an arrow per message, top to bottom."""
    arrows = [m for m in messages if m.source != m.target]
    gap = max(
        190.0,
        max(len(m.label) for m in arrows) * CHAR * 0.8,
        *(len(n) * 8.0 + 40 for n in participants),
    )
    xs = {name: 100 + i * gap for i, name in enumerate(participants)}
    notes = [xs[m.source] + 8 + len(m.label) * CHAR for m in messages if m.source == m.target]
    width = max([100 * 2 + gap * (len(participants) - 1), *(n + 20 for n in notes)])
    top, step = 70.0, 26.0
    height = top + step * (len(messages) + 1) + 20
    body = [
        _text(width / 2, 24, title, text_anchor="middle", font_weight="600", fill=INK),
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker>'
        "</defs>",
    ]
    for name, x in xs.items():
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 8:.1f}" x2="{x:.1f}" y2="{height - 16:.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="3 4"/>'
        )
        box = len(name) * 7.6 + 18
        body.append(
            f'<rect x="{x - box / 2:.1f}" y="{top - 34:.1f}" width="{box:.1f}" height="24" '
            f'rx="4" fill="#eef2f8" stroke="{ACCENT}"/>'
        )
        body.append(_text(x, top - 18, name, text_anchor="middle", fill=INK, font_weight="600"))
    for row, message in enumerate(messages, 1):
        y = top + row * step
        x1, x2 = xs[message.source], xs[message.target]
        if x1 == x2:
            body.append(_text(x1 + 8, y + 4, message.label, font_family=FONT, fill=MUTED))
            continue
        dash = ' stroke-dasharray="5 3"' if message.reply else ""
        body.append(
            f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{INK}"'
            f'{dash} marker-end="url(#arrow)"/>'
        )
        body.append(
            _text(
                (x1 + x2) / 2,
                y - 5,
                message.label,
                text_anchor="middle",
                font_family=FONT,
                fill=INK,
                font_size="11",
            )
        )
    desc = [f"{m.source} -> {m.target}: {m.label}" for m in messages]
    return _svg(width, height, desc, body, title)


@dataclass(frozen=True)
class Span:
    """A bar from ``start`` to ``end`` seconds on a row of a timeline."""

    row: str
    start: float
    end: float
    label: str
    color: str


@dataclass(frozen=True)
class Mark:
    """A dot at ``at`` seconds on a row, with an optional label."""

    row: str
    at: float
    label: str
    color: str


def timeline(
    title: str,
    rows: Sequence[str],
    spans: Sequence[Span],
    marks: Sequence[Mark],
    since: float,
    until: float,
    lines: Sequence[tuple[float, str]] = (),
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """A timeline in seconds from ``since`` to ``until``: a row per name, spans and marks."""
    left, right, top, step = 230.0, 30.0, 60.0, 34.0
    width = 1000.0
    scale = (width - left - right) / (until - since)
    height = top + step * len(rows) + 60

    def x(seconds: float) -> float:
        return left + (seconds - since) * scale

    ys = {row: top + i * step for i, row in enumerate(rows)}
    body = [_text(width / 2, 26, title, text_anchor="middle", font_weight="600", fill=INK)]
    for row, y in ys.items():
        body.append(_text(left - 10, y + 18, row, text_anchor="end", fill=INK))
    bottom = top + step * len(rows)
    tick = 1 if until <= 25 else 5
    for second in range(int(since), int(until) + 1, tick):
        body.append(
            f'<line x1="{x(second):.1f}" y1="{top - 4:.1f}" x2="{x(second):.1f}" '
            f'y2="{bottom:.1f}" stroke="#d0d7de" stroke-width="0.6"/>'
        )
        body.append(
            _text(
                x(second),
                bottom + 16,
                f"{second} s",
                text_anchor="middle",
                fill=MUTED,
                font_size="10",
            )
        )
    for at, label in lines:
        body.append(
            f'<line x1="{x(at):.1f}" y1="{top - 12:.1f}" x2="{x(at):.1f}" y2="{bottom + 4:.1f}" '
            f'stroke="#cf222e" stroke-width="1.2"/>'
        )
        anchor = "end" if x(at) > width - 200 else "start"
        shift = -4 if anchor == "end" else 4
        body.append(
            _text(
                x(at) + shift, top - 14, label, fill="#cf222e", font_size="11", text_anchor=anchor
            )
        )
    for span in spans:
        y = ys[span.row]
        w = max(1.5, (span.end - span.start) * scale)
        body.append(
            f'<rect x="{x(span.start):.1f}" y="{y + 4:.1f}" width="{w:.1f}" height="20" rx="3" '
            f'fill="{span.color}" fill-opacity="0.85"/>'
        )
        if span.label and w > len(span.label) * 6.4 + 6:
            body.append(
                _text(
                    x(span.start) + w / 2,
                    y + 18,
                    span.label,
                    text_anchor="middle",
                    fill="#ffffff",
                    font_size="11",
                )
            )
    for mark in marks:
        y = ys[mark.row]
        body.append(f'<circle cx="{x(mark.at):.1f}" cy="{y + 14:.1f}" r="4" fill="{mark.color}"/>')
        if mark.label:
            body.append(_text(x(mark.at) + 7, y + 18, mark.label, fill=INK, font_size="11"))
    at = left
    for color, text in legend:
        body.append(f'<circle cx="{at:.1f}" cy="{bottom + 40:.1f}" r="4" fill="{color}"/>')
        body.append(_text(at + 8, bottom + 44, text, fill=INK, font_size="11"))
        at += 28 + len(text) * 6.5
    desc = [f"{s.row}: {s.label or 'span'} {s.start:.2f}-{s.end:.2f} s" for s in spans]
    desc += [f"{m.row}: {m.label or 'mark'} at {m.at:.2f} s" for m in marks]
    return _svg(width, height, desc, body, title)
