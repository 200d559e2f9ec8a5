"""Small inline SVG charts for the ops page: bars or a line over the last ten minutes.

No script and no assets: each chart is a few dozen SVG elements with labelled axes, time on
x (ten minutes up to now), the quantity on y from 0 to a round maximum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.http.ops_format import esc

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 12, 30  # margins: y labels left, x labels below
WINDOW = 600.0  # seconds shown at most: the sampler's history
GRID = "#e3e6ea"
INK = "#5b6470"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]  # one per interval; None: no value (a gap)


@dataclass(frozen=True, slots=True)
class Reference:
    """A dashed horizontal line, e.g. the budget a rate is held to."""

    value: float
    label: str


def nice(top: float) -> float:
    """A round maximum at or above `top` whose quarters are round too (4, 8, 10, 20, 40...)."""
    if top <= 0:
        return 1.0
    step = top / 4
    power = 10.0 ** math.floor(math.log10(step))
    return 4 * next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= step * 0.999)


def window(history: float) -> float:
    """Seconds the x axis spans: the history so far in whole minutes, 2 to 10 of them."""
    return min(WINDOW, max(120.0, math.ceil(history / 60) * 60))


def chart(
    *,
    label: str,
    starts: Sequence[float],
    ends: Sequence[float],
    now: float,
    span: float = WINDOW,
    series: Sequence[Series],
    y_format: Callable[[float], str],
    y_max: float | None = None,
    line: bool = False,
    reference: Reference | None = None,
) -> str:
    """Stacked bars (or one line per series) for intervals [starts[i], ends[i]]."""
    stacked = [
        sum(v or 0.0 for v in vals) for vals in zip(*(s.values for s in series), strict=True)
    ]
    if line:
        stacked = [max((v or 0.0) for s in series for v in s.values)] if starts else []
    top = y_max or nice(max([*stacked, reference.value if reference else 0.0, 0.0]) or 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ts: float) -> float:
        return LEFT + plot_w * (1 - min(max(now - ts, 0.0), span) / span)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value, top) / top)

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>'
    ]
    for i in range(5):  # y grid and labels: 0, 1/4 ... top
        value = top * i / 4
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{GRID}"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'fill="{INK}" font-size="11">{esc(y_format(value))}</text>'
        )
    minutes_shown = round(span / 60)
    for minutes in range(0, minutes_shown + 1, 1 if minutes_shown <= 5 else 2):  # ... now
        px = x(now - minutes * 60)
        text = "now" if minutes == 0 else f"&#8722;{minutes} min"
        out.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
            f'stroke="{INK}"/><text x="{px:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'fill="{INK}" font-size="11">{text}</text>'
        )
    if not starts:
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            f'fill="{INK}" font-size="12">no samples yet</text>'
        )
    elif line:
        out.extend(_lines(series, ends, x, y))
    else:
        out.extend(_bars(series, starts, ends, x, y))
    if reference is not None:
        ry = y(reference.value)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ry:.1f}" y2="{ry:.1f}" stroke="#b3261e" '
            f'stroke-dasharray="5 4"/><text x="{WIDTH - RIGHT - 4}" y="{ry - 4:.1f}" '
            f'text-anchor="end" fill="#b3261e" font-size="11">{esc(reference.label)}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        f'stroke="{INK}"/></svg>'
    )
    return "".join(out)


def _bars(
    series: Sequence[Series],
    starts: Sequence[float],
    ends: Sequence[float],
    x: Callable[[float], float],
    y: Callable[[float], float],
) -> list[str]:
    out = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        left, right = x(start), x(end)
        if right - left < 0.5:
            continue  # older than the window
        width = max(right - left - 1, 0.5)
        if not any(s.values[i] for s in series) and any(s.values[i] is not None for s in series):
            # Measured, and nothing: a mark on the axis, unlike an interval with no value.
            out.append(
                f'<rect x="{left + 0.5:.1f}" y="{y(0) - 2:.1f}" width="{width:.1f}" height="2" '
                f'fill="{series[0].color}"/>'
            )
            continue
        base = 0.0
        for s in series:
            value = s.values[i]
            if not value:
                continue
            out.append(
                f'<rect x="{left + 0.5:.1f}" y="{y(base + value):.1f}" '
                f'width="{width:.1f}" height="{y(base) - y(base + value):.1f}" fill="{s.color}"/>'
            )
            base += value
    return out


def _lines(
    series: Sequence[Series],
    ends: Sequence[float],
    x: Callable[[float], float],
    y: Callable[[float], float],
) -> list[str]:
    out = []
    for s in series:
        runs: list[list[str]] = [[]]
        for end, value in zip(ends, s.values, strict=True):
            if value is None:
                runs.append([])  # a gap: no sample then
            else:
                runs[-1].append(f"{x(end):.1f},{y(value):.1f}")
        for run in runs:
            if len(run) == 1:
                px, py = run[0].split(",")
                out.append(f'<circle cx="{px}" cy="{py}" r="2.5" fill="{s.color}"/>')
            elif run:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.color}" '
                    'stroke-width="2"/>'
                )
    return out


def legend(series: Sequence[Series]) -> str:
    return "".join(
        f'<span class="key"><i style="background:{s.color}"></i>{esc(s.name)}</span>'
        for s in series
    )
