"""Small server-rendered SVG charts: accessible, no script, readable beside their tables.

Each chart is an inline ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>`` (which also lists every value, for screen readers), with its numbers written as text
on the chart. Colours come as presentation attributes (the CSP allows no inline style), text
uses ``currentColor`` so it follows the page's light or dark scheme, and series are told apart by
marker and dash as well as by colour. Callers pass translated labels; nothing here translates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 480
FONT = 14
SMALL = 12
COLOURS = ("#1d70b8", "#b0470b", "#00703c")  # blue, orange, green: 3:1 or more on white or black
DASHES = ("", "6 4", "2 3")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at least ``value`` (at least 1): the top of an axis."""
    top = max(int(value), 1)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= top:
                return step * factor
        step *= 10


def _ticks(top: int) -> list[int]:
    """Up to five whole-number ticks from 0 to ``top``."""
    for count in (4, 5, 2, 1):
        if top % count == 0:
            return [top * i // count for i in range(count + 1)]
    return [0, top]


def _t(value: object) -> str:
    return str(escape(str(value)))


def _frame(chart_id: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    ident = _t(chart_id)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" focusable="false" '
        f'class="chart" id="{ident}" font-size="{FONT}">'
        f'<title id="{ident}-title">{_t(title)}</title>'
        f'<desc id="{ident}-desc">{_t(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )
    # Every piece of text above went through escape(); the rest is our own markup.
    return Markup(svg)  # noqa: S704


def bar_chart(*, chart_id: str, title: str, desc: str, bars: Sequence[tuple[str, int]]
              ) -> Markup:
    """Horizontal bars, each with its label above it and its value at its end."""
    row, label_gap, bar_height, top_pad = 46, 18, 18, 4
    longest = max((v for _, v in bars), default=0)
    scale = (WIDTH - 70) / nice_max(longest)
    body: list[str] = []
    for i, (label, value) in enumerate(bars):
        y = top_pad + i * row
        width = round(value * scale, 1)
        faint = "" if value else ' fill-opacity="0.35"'
        body.append(
            f'<g><text x="0" y="{y + label_gap - 4}" fill="currentColor">{_t(label)}</text>'
            f'<rect x="0" y="{y + label_gap}" width="{max(width, 1)}" height="{bar_height}" '
            f'fill="{COLOURS[0]}"{faint}></rect>'
            f'<text x="{width + 6}" y="{y + label_gap + bar_height - 4}" fill="currentColor" '
            f'font-weight="700">{_t(value)}</text></g>'
        )
    values = "; ".join(f"{label}: {value}" for label, value in bars)
    height = top_pad * 2 + max(len(bars), 1) * row
    return _frame(chart_id, title, f"{desc} {values}".strip(), height, body)


def line_chart(*, chart_id: str, title: str, desc: str, labels: Sequence[str],
               series: Sequence[Series]) -> Markup:
    """Lines over evenly spaced labels (months, say), with a legend and a value axis."""
    height, left, right, top, bottom = 280, 44, 12, 40, 30
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    highest = max((v for s in series for v in s.values), default=0)
    axis_top = nice_max(highest)
    count = max(len(labels), 1)
    step = plot_w / (count - 1) if count > 1 else 0

    def x(i: int) -> float:
        return round(left + (i * step if count > 1 else plot_w / 2), 1)

    def y(v: int) -> float:
        return round(top + plot_h - v * plot_h / axis_top, 1)

    body: list[str] = []
    # Legend: marker, dash and name for each series, so colour is never the only cue.
    legend_x = left
    for n, s in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<g><line x1="{legend_x}" y1="14" x2="{legend_x + 26}" y2="14" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}></line>'
            + _marker(n, legend_x + 13, 14, colour)
            + f'<text x="{legend_x + 32}" y="19" fill="currentColor">{_t(s.name)}</text></g>'
        )
        legend_x += 44 + len(s.name) * 9
    # Value axis: gridlines with their numbers.
    for tick in _ticks(axis_top):
        ty = y(tick)
        body.append(
            f'<line x1="{left}" y1="{ty}" x2="{WIDTH - right}" y2="{ty}" stroke="currentColor" '
            f'stroke-opacity="{0.6 if tick == 0 else 0.2}"></line>'
            f'<text x="{left - 6}" y="{ty + 4}" text-anchor="end" fill="currentColor" '
            f'font-size="{SMALL}">{tick}</text>'
        )
    # Category axis: every label that fits (every other one when they are many).
    every = 1 if count <= 12 else 2
    for i, label in enumerate(labels):
        if i % every == 0:
            body.append(f'<text x="{x(i)}" y="{height - 8}" text-anchor="middle" '
                        f'fill="currentColor" font-size="{SMALL}">{_t(label)}</text>')
    for n, s in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(s.values))
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5"{dash_attr}></polyline>')
        for i, v in enumerate(s.values):
            label = labels[i] if i < len(labels) else ""
            body.append(_marker(n, x(i), y(v), colour, f"{s.name}, {label}: {v}"))
    summary = "; ".join(
        f"{s.name}: " + ", ".join(f"{labels[i] if i < len(labels) else ''} {v}"
                                  for i, v in enumerate(s.values))
        for s in series)
    return _frame(chart_id, title, f"{desc} {summary}".strip(), height, body)


def _marker(n: int, cx: float, cy: float, colour: str, tip: str = "") -> str:
    """A circle, square or diamond (by series), with an optional tooltip."""
    tip_el = f"<title>{_t(tip)}</title>" if tip else ""
    shape = n % 3
    if shape == 0:
        return f'<circle cx="{cx}" cy="{cy}" r="4" fill="{colour}">{tip_el}</circle>'
    if shape == 1:
        return (f'<rect x="{round(cx - 4, 1)}" y="{round(cy - 4, 1)}" width="8" height="8" '
                f'fill="{colour}">{tip_el}</rect>')
    points = f"{cx},{round(cy - 5, 1)} {round(cx + 5, 1)},{cy} {cx},{round(cy + 5, 1)} " \
             f"{round(cx - 5, 1)},{cy}"
    return f'<polygon points="{points}" fill="{colour}">{tip_el}</polygon>'
