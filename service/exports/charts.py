"""The report's daily chart: interactions and unique users per local date (reportlab graphics).

Axis labels are chosen for the page, not for the data: a handful of day or month labels that
never collide, whatever the range (1 to 366 days).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from reportlab.graphics.charts.legends import LineLegend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors

INK = colors.HexColor("#1F2D3D")
MUTED = colors.HexColor("#5B6B7C")
GRID = colors.HexColor("#E3E8EE")
SERIES = (  # (daily field, legend label, colour): colour-blind-safe blue and orange
    ("interactions", "Interactions", colors.HexColor("#1F6FB2")),
    ("unique_users", "Unique users (hourly, summed)*", colors.HexColor("#E8833A")),
)
FONT, FONT_SIZE = "Helvetica", 7.5
LABEL_WIDTH = 48  # points one x label may take, so neighbours keep a gap between them
MARKERS_UP_TO = 45  # days; past this, markers would merge into a thick line
VALUES_UP_TO = 7  # days; past this, value labels would collide
PAD_LEFT, PAD_RIGHT, PAD_BOTTOM, PAD_TOP = 44, 20, 30, 26  # room for labels and the legend


def daily_chart(daily: Sequence[Mapping[str, Any]], width: float, height: float) -> Drawing:
    drawing = Drawing(width, height)
    plot = LinePlot()
    plot.x, plot.y = PAD_LEFT, PAD_BOTTOM
    plot.width, plot.height = width - PAD_LEFT - PAD_RIGHT, height - PAD_BOTTOM - PAD_TOP
    n = len(daily)
    plot.data = [[(i, int(d[field])) for i, d in enumerate(daily)] for field, _, _ in SERIES]
    for i, (_, _, colour) in enumerate(SERIES):
        plot.lines[i].strokeColor = colour
        plot.lines[i].strokeWidth = 1.6 if n <= 120 else 1.1
        if n <= MARKERS_UP_TO:
            plot.lines[i].symbol = makeMarker("FilledCircle", size=3 if n > 14 else 4)
            plot.lines[i].symbol.fillColor = colour
            plot.lines[i].symbol.strokeColor = colour

    if n <= VALUES_UP_TO:  # a few points: print their values, the axis alone is too coarse
        plot.lineLabelFormat = _thousands
        plot.lineLabels.fontName, plot.lineLabels.fontSize = FONT, FONT_SIZE
        plot.lineLabels.fillColor, plot.lineLabels.boxAnchor, plot.lineLabels.dy = INK, "s", 2

    dates = [date.fromisoformat(d["date"]) for d in daily]
    labels = tick_labels(dates, max(2, int(plot.width // LABEL_WIDTH)))
    x = plot.xValueAxis
    # One day alone still needs a span, or the axis has no width to place it in.
    x.valueMin, x.valueMax = (-0.5, 0.5) if n == 1 else (0, n - 1)
    x.valueSteps = sorted(labels)
    x.labelTextFormat = lambda v: labels.get(round(v), "")
    x.labels.fontName, x.labels.fontSize, x.labels.fillColor = FONT, FONT_SIZE, MUTED
    x.labels.boxAnchor, x.labels.dy = "n", -4  # below the 3 pt tick marks
    x.strokeColor, x.tickDown = MUTED, 3

    y = plot.yValueAxis
    peak = max((value for series in plot.data for _, value in series), default=0)
    y.valueMin, y.rangeRound = 0, "ceiling"
    if peak == 0:  # an empty range: a flat line on a 0-10 axis rather than a degenerate one
        y.valueMax, y.valueStep = 10, 2
    y.labelTextFormat = _thousands
    y.labels.fontName, y.labels.fontSize, y.labels.fillColor = FONT, FONT_SIZE, MUTED
    y.visibleGrid, y.gridStrokeColor, y.gridStrokeWidth = True, GRID, 0.6
    y.visibleAxis, y.visibleTicks = False, False  # the grid carries the scale
    drawing.add(plot)
    drawing.add(_legend(plot.x, height - 8))
    return drawing


def tick_labels(dates: Sequence[date], most: int) -> dict[int, str]:
    """Index → label: every day, every other day, Mondays or every other Monday for ranges up
    to three months; first days of months beyond (the year shown when it starts or changes)."""
    n = len(dates)
    if n <= 92:
        step = next((s for s in (1, 2, 7, 14, 28) if -(-n // s) <= most), 28)
        first = 0 if step < 7 else (7 - dates[0].weekday()) % 7  # weekly labels fall on Mondays
        return {i: f"{dates[i].day} {dates[i]:%b}" for i in range(first, n, step)}
    months = [i for i, d in enumerate(dates) if d.day == 1]
    every = -(-len(months) // most)
    picked = months[::every]
    out = {}
    for k, i in enumerate(picked):
        d = dates[i]
        new_year = k == 0 or d.year != dates[picked[k - 1]].year
        out[i] = f"{d:%b}\n{d.year}" if new_year else f"{d:%b}"
    return out


def _thousands(value: float) -> str:
    return f"{value:,.0f}"


def _legend(x: float, y: float) -> LineLegend:
    legend = LineLegend()
    legend.x, legend.y = x, y
    legend.alignment = "right"  # text to the right of its swatch
    legend.columnMaximum = 1  # one entry per column: the entries sit side by side
    legend.deltax = 100
    legend.dx, legend.dy = 16, 0
    legend.fontName, legend.fontSize, legend.fillColor = FONT, 8, INK
    legend.strokeWidth = 2.2
    legend.colorNamePairs = [(colour, label) for _, label, colour in SERIES]
    return legend
