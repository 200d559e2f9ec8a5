"""The report's look: paragraph styles, tables, number formats and the page footer.

Standard PDF fonts (Helvetica) keep files small and text extractable; they cover Latin-1,
so characters beyond it (CJK, emoji) in customer names show as boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, Table, TableStyle

from service.exports.charts import GRID, INK, MUTED

HEAD = colors.HexColor("#1F2D3D")
STRIPE = colors.HexColor("#F4F6F8")
RULE = colors.HexColor("#C9D1DA")
DASH = "\u2013"  # en dash, for ranges and "no value"

STYLES = {
    "title": ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=20, leading=24,
                            textColor=INK, spaceAfter=2),
    "subtitle": ParagraphStyle("subtitle", fontName="Helvetica", fontSize=11, leading=15,
                               textColor=MUTED, spaceAfter=10),
    "h2": ParagraphStyle("h2", fontName="Helvetica-Bold", fontSize=12, leading=15,
                         textColor=INK, spaceAfter=5),
    "cell": ParagraphStyle("cell", fontName="Helvetica", fontSize=9, leading=11,
                           textColor=INK, alignment=TA_LEFT),
    "note": ParagraphStyle("note", fontName="Helvetica", fontSize=8, leading=10.5,
                           textColor=MUTED, spaceBefore=3, spaceAfter=3),
}  # fmt: skip


def integer(n: int) -> str:
    return f"{n:,}"


def signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def percent(p: float | None) -> str:
    """Percent change as the compare answer gives it; n/a where the previous value was 0."""
    return "n/a" if p is None else f"{p:+.1f}%"


def rate(part: int, whole: int) -> str:
    return DASH if whole == 0 else f"{100 * part / whole:.1f}%"


def info_table(rows: Sequence[tuple[str, str]], width: float) -> Table:
    """Label / value pairs in two columns without a grid: the report's who, what and when."""
    half = -(-len(rows) // 2)
    cells = []
    for i in range(half):
        line: list[Any] = []
        for label, value in (rows[i], *rows[i + half : i + half + 1]):
            line += [label, Paragraph(escape(str(value)), STYLES["cell"])]
        cells.append(line)
    table = Table(cells, colWidths=[f * width for f in (0.15, 0.37, 0.14, 0.34)], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica-Bold", 9),
                ("TEXTCOLOR", (0, 0), (-1, -1), MUTED),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
            ]
        )
    )
    return table


def data_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    fractions: Sequence[float],
    width: float,
    *,
    sub_rows: Sequence[int] = (),
    total_row: bool = False,
) -> Table:
    """A header row, striped body rows; the first column wraps, the others are right-aligned
    numbers. `sub_rows` (table row indexes) are indented details of the row above."""
    body: list[list[Any]] = [list(header)]
    for row in rows:
        body.append([Paragraph(escape(row[0]), STYLES["cell"]), *row[1:]])
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("FONT", (1, 1), (-1, -1), "Helvetica", 9),
        ("TEXTCOLOR", (1, 1), (-1, -1), INK),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LINEBELOW", (0, 1), (-1, -1), 0.4, GRID),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
    ]
    for i in sub_rows:
        body[i][0] = Paragraph(escape(rows[i - 1][0]), _SUB)
        style += [("TEXTCOLOR", (1, i), (-1, i), MUTED), ("FONT", (1, i), (-1, i), "Helvetica", 8)]
    if total_row:
        body[-1][0] = Paragraph(f"<b>{escape(rows[-1][0])}</b>", STYLES["cell"])
        style += [
            ("FONT", (1, -1), (-1, -1), "Helvetica-Bold", 9),
            ("LINEABOVE", (0, -1), (-1, -1), 0.8, RULE),
        ]
    table = Table(body, colWidths=[f * width for f in fractions], repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


_SUB = ParagraphStyle("sub", parent=STYLES["cell"], leftIndent=10, fontSize=8, textColor=MUTED)


class NumberedCanvas(canvas.Canvas):  # type: ignore[misc]
    """Defers each page until the end, so every footer can say "Page i of n"."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab's name
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for number, state in enumerate(self._saved, 1):
            self.__dict__.update(state)
            self._draw_footer(number, len(self._saved))
            super().showPage()
        super().save()

    def _draw_footer(self, number: int, total: int) -> None:
        page_width = self._pagesize[0]
        self.saveState()
        self.setStrokeColor(GRID)
        self.setLineWidth(0.6)
        self.line(18 * mm, 13 * mm, page_width - 18 * mm, 13 * mm)
        self.setFont("Helvetica", 8)
        self.setFillColor(MUTED)
        self.drawString(18 * mm, 8.5 * mm, self._footer)
        self.drawRightString(page_width - 18 * mm, 8.5 * mm, f"Page {number} of {total}")
        self.restoreState()
