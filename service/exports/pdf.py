"""The PDF report a customer-success manager sends: a pure function of the overview and
compare answers (reportlab platypus). Everything is laid out in fractions of the frame width,
so A4 and Letter both fit without clipping."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
)

from service.analytics.assemble import TOTAL_FIELDS
from service.exports.charts import daily_chart
from service.exports.layout import (
    DASH,
    STYLES,
    NumberedCanvas,
    data_table,
    info_table,
    integer,
    percent,
    rate,
    signed,
)

PAGE_SIZES = {"A4": A4, "Letter": letter}
MAX_ROWS = 12  # per breakdown table; the rest are summed into one "Other" row
SOURCES = {
    "voiceflow": "Voiceflow analytics API",
    "demo": "Demo data (simulated traffic)",
}
KPI_LABELS = {
    "interactions": "Interactions",
    "unique_users": "Unique users*",
    "credits": "Credits used",
    "function_calls": "Function calls",
    "function_successes": "of which succeeded",
    "api_calls": "API-tool calls",
    "api_successes": "of which succeeded",
    "integration_calls": "Integration calls",
    "integration_successes": "of which succeeded",
    "kb_document_uses": "Knowledge-base document uses",
}
UNIQUE_USERS_NOTE = (
    "* Unique users: Voiceflow counts distinct users per hour, and this report adds up those "
    "hourly counts. A person active in three different hours counts three times, so the "
    "figure is higher than the number of distinct people."
)


def report_pdf(
    overview: Mapping[str, Any],
    compare: Mapping[str, Any],
    page_size: str,
    generated_at: datetime | None = None,
) -> bytes:
    """The report as PDF bytes; `generated_at` (when the report was made) defaults to now."""
    generated_at = generated_at or datetime.now(UTC)
    rng, prev = overview["range"], compare["previous_range"]
    period = _span(rng)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=PAGE_SIZES[page_size],
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=20 * mm,
        title=f"Voiceflow analytics report, {period}",
        author="vf-analytics-cache",
        subject=f"Project {overview['project_id']}",
        creator="vf-analytics-cache",
    )
    width = doc.width
    # Sized so page one holds the figures and the chart on Letter; A4's extra height goes
    # to the chart.
    chart_height = 80 * mm + doc.pagesize[1] - letter[1]
    story: list[Any] = [
        Paragraph("Voiceflow analytics report", STYLES["title"]),
        Paragraph(
            f"Project {escape(overview['project_id'])} &middot; {escape(period)}",
            STYLES["subtitle"],
        ),
        info_table(
            [
                ("Period", f"{period} ({rng['days']} days)"),
                ("Compared with", _span(prev)),
                ("Data source", SOURCES.get(overview["meta"]["source"], "Voiceflow")),
                ("Project", overview["project_id"]),
                ("Time zone", rng["tz"]),
                ("Environment", overview.get("environment_id") or "All environments"),
                ("Data as of", _when(datetime.fromisoformat(overview["meta"]["generated_at"]))),
                ("Generated", _when(generated_at)),
            ],
            width,
        ),
        Spacer(1, 5 * mm),
        Paragraph("Key figures", STYLES["h2"]),
        _kpis(compare["metrics"], width),
        Paragraph(
            "Change is against the previous period of the same length, ending the day before "
            "this one starts; n/a where the previous value was zero. Dates are calendar days "
            f"in {escape(rng['tz'])}.",
            STYLES["note"],
        ),
        Spacer(1, 3 * mm),
        KeepTogether(
            [
                Paragraph("Daily activity", STYLES["h2"]),
                daily_chart(overview["daily"], width, chart_height),
                Paragraph(escape(UNIQUE_USERS_NOTE), STYLES["note"]),
            ]
        ),
    ]
    bd, totals = overview["breakdowns"], overview["totals"]
    story += _section(
        "Top intents",
        ["Intent", "Matches"],
        [(e["name"], integer(e["count"])) for e in bd["top_intents"]],
        [0.75, 0.25],
        width,
        "No intents were matched in this period.",
    )
    story += _section(
        "Credits by model",
        ["Model", "Credits", "Share"],
        [
            (e["model"], integer(e["count"]), rate(e["count"], totals["credits"]))
            for e in _capped(bd["credits_by_model"], "model")
        ],
        [0.55, 0.25, 0.20],
        width,
        "No credits were used in this period.",
    )
    for title, key, calls, successes in (
        ("Function calls", "functions", "function_calls", "function_successes"),
        ("API-tool calls", "api_tools", "api_calls", "api_successes"),
        ("Integration calls", "integrations", "integration_calls", "integration_successes"),
    ):
        rows = [
            (e["name"], integer(e["count"]), integer(e["success_count"]), _rate(e))
            for e in _capped(bd[key], "name")
        ]
        if rows:
            total = {"count": totals[calls], "success_count": totals[successes]}
            rows.append(
                ("Total", integer(total["count"]), integer(total["success_count"]), _rate(total))
            )
        story += _section(
            title,
            ["Name", "Calls", "Succeeded", "Success rate"],
            rows,
            [0.46, 0.18, 0.18, 0.18],
            width,
            f"No {title.lower()} in this period.",
            total_row=bool(rows),
        )
    footer = f"Voiceflow analytics report  ·  {overview['project_id']}  ·  {period}"
    doc.build(story, canvasmaker=partial(NumberedCanvas, footer=footer))
    return buf.getvalue()


def _kpis(metrics: Mapping[str, Mapping[str, Any]], width: float) -> Table:
    rows: list[tuple[str, ...]] = []
    sub: list[int] = []
    for field in TOTAL_FIELDS:
        m = metrics[field]
        if field.endswith("_successes"):
            sub.append(len(rows) + 1)  # +1: the header row
        rows.append(
            (
                KPI_LABELS[field],
                integer(m["current"]),
                integer(m["previous"]),
                signed(m["change"]),
                percent(m["percent_change"]),
            )
        )
    return data_table(
        ["Metric", "This period", "Previous period", "Change", "Change %"],
        rows,
        [0.36, 0.17, 0.17, 0.15, 0.15],
        width,
        sub_rows=sub,
    )


def _section(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    width: float,
    empty: str,
    *,
    total_row: bool = False,
) -> list[Any]:
    """A heading kept with its table (or a line saying there is nothing to show)."""
    body: Any = (
        data_table(header, rows, widths, width, total_row=total_row)
        if rows
        else Paragraph(escape(empty), STYLES["note"])
    )
    return [Spacer(1, 5 * mm), KeepTogether([Paragraph(title, STYLES["h2"]), body])]


def _capped(entries: Sequence[Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """The first MAX_ROWS entries, the rest summed into one row so the table still adds up."""
    head = [dict(e) for e in entries[:MAX_ROWS]]
    rest = entries[MAX_ROWS:]
    if rest:
        other = {name: f"Other ({len(rest)})", "count": sum(e["count"] for e in rest)}
        other["success_count"] = sum(e.get("success_count", 0) for e in rest)
        head.append(other)
    return head


def _rate(entry: Mapping[str, Any]) -> str:
    return rate(entry["success_count"], entry["count"])


def _span(rng: Mapping[str, Any]) -> str:
    start, end = date.fromisoformat(rng["start"]), date.fromisoformat(rng["end"])
    if start == end:
        return _day(start)
    return f"{_day(start)} {DASH} {_day(end)}"


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _when(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{_day(t.date())}, {t:%H:%M} UTC"
