"""Exports: the CSV and the PDF hold the answers' numbers, render cleanly, carry their headers,
file names and page sizes, and refuse bad input by name."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pypdf
import pytest
from reportlab.lib.pagesizes import A4, letter

from service.analytics.assemble import TOTAL_FIELDS
from service.exports.csv import BREAKDOWNS
from service.exports.layout import integer, percent, signed
from service.exports.pdf import KPI_LABELS
from tests.conftest import PROJECT, Sim, body
from tests.exports.helpers import answer, export

RANGES = {  # days -> (start, end)
    1: ("2025-02-14", "2025-02-14"),
    90: ("2025-01-01", "2025-03-31"),
    366: ("2024-03-01", "2025-03-01"),
}
TZ = "Europe/Helsinki"


def pdf_lines(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [line.strip() for page in reader.pages for line in page.extract_text().splitlines()]


async def rasterize(data: bytes, tmp: Path) -> tuple[int, str, int]:
    """pdftoppm's exit code, its stderr, and how many page images it wrote."""
    (tmp / "report.pdf").write_bytes(data)
    proc = await asyncio.create_subprocess_exec(
        "pdftoppm", "-r", "30", "-png", str(tmp / "report.pdf"), str(tmp / "page"),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(), page_images(tmp)


def page_images(tmp: Path) -> int:
    return len(list(tmp.glob("page-*.png")))


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("days", sorted(RANGES))
async def test_csv_sums_to_the_overview(client: Any, days: int) -> None:
    """Per metric, the CSV's `total` rows sum to the overview's total; one row per local date."""
    start, end = RANGES[days]
    overview = await answer(client, "overview", start=start, end=end, tz=TZ)
    resp = await export(client, start=start, end=end, tz=TZ, format="csv")
    assert resp.status == 200
    frame = pd.read_csv(io.BytesIO(await resp.read()), dtype={"date": str}, encoding="utf-8")
    assert list(frame.columns) == ["date", "metric", "dimension", "value"]
    daily = frame[frame["dimension"] == "total"]
    sums = daily.groupby("metric")["value"].sum()
    assert {m: int(sums[m]) for m in TOTAL_FIELDS} == overview["totals"]
    first = date.fromisoformat(start)
    assert sorted(set(daily["date"])) == [
        (first + timedelta(days=i)).isoformat() for i in range(days)
    ]
    for entry in overview["daily"]:
        rows = daily[daily["date"] == entry["date"]]
        assert dict(zip(rows["metric"], rows["value"], strict=True)) == {
            m: entry[m] for m in TOTAL_FIELDS
        }
    ranged = frame[frame["dimension"] != "total"]
    assert set(ranged["date"]) <= {f"{start}/{end}"}
    # Breakdowns split a metric: each one adds up to that metric's total again.
    for name in ("interactions_by_type", "credits_by_model", "functions", "api_tools"):
        _, metric, _ = BREAKDOWNS[name]
        assert ranged[ranged["metric"] == metric]["value"].sum() == overview["totals"][metric]
    assert ranged["dimension"].str.match(r"^[a-z_]+=").all()  # never read as a formula


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("days", sorted(RANGES))
async def test_pdf_holds_the_compare_kpis_and_renders(
    client: Any, days: int, tmp_path: Path
) -> None:
    """The PDF's text has the compare answer's KPI rows; pdftoppm renders every page cleanly."""
    start, end = RANGES[days]
    compare = await answer(client, "compare", start=start, end=end, tz=TZ)
    resp = await export(client, start=start, end=end, tz=TZ)
    assert resp.status == 200
    data = await resp.read()
    lines = pdf_lines(data)
    expected: list[str] = []
    for field in TOTAL_FIELDS:
        m = compare["metrics"][field]
        expected += [
            KPI_LABELS[field],
            integer(m["current"]),
            integer(m["previous"]),
            signed(m["change"]),
            percent(m["percent_change"]),
        ]
    at = lines.index(KPI_LABELS["interactions"])
    assert lines[at : at + len(expected)] == expected
    text = "\n".join(lines)
    assert PROJECT in text and TZ in text and "Voiceflow analytics API" in text
    assert "distinct users per hour" in text
    for heading in ("Top intents", "Credits by model", "Function calls", "API-tool calls"):
        assert heading in text
    pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    assert f"Page {pages} of {pages}" in text
    code, err, images = await rasterize(data, tmp_path)
    assert (code, err, images) == (0, "", pages)


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_headers_and_file_names(client: Any) -> None:
    """CSV and PDF carry their content type, an attachment name and X-Cache."""
    csv = await export(client, format="csv")
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.headers["Content-Disposition"] == (
        f'attachment; filename="{PROJECT}_2025-01-01_2025-01-31.csv"'
    )
    assert csv.headers["X-Cache"] == "MISS"
    pdf = await export(client, format="pdf", start="2025-02-01", end="2025-02-28")
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.headers["Content-Disposition"] == (
        f'attachment; filename="{PROJECT}_2025-02-01_2025-02-28.pdf"'
    )
    assert (await pdf.read()).startswith(b"%PDF-")


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_page_size_sets_the_mediabox(client: Any) -> None:
    """page_size A4 (the default) and Letter give pages of those sizes."""
    for fields, size in (({}, A4), ({"page_size": "A4"}, A4), ({"page_size": "Letter"}, letter)):
        data = await (await export(client, **fields)).read()
        for page in pypdf.PdfReader(io.BytesIO(data)).pages:
            box = page.mediabox
            assert (float(box.width), float(box.height)) == pytest.approx(size, abs=0.01)


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"format": None}, "format"),
        ({"format": "pdf", "page_size": "A5"}, "page_size"),
        ({"format": "pdf", "page_size": None}, "page_size"),
        ({"format": "csv", "color": "red"}, "color"),
        ({"format": "csv", "end": "2024-12-31"}, "end"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    client: Any, sim: Sim, fields: dict[str, Any], field: str
) -> None:
    """Unknown format or page_size (or any bad field): 400 problem+json naming it."""
    resp = await client.post("/api/export", json=body(**fields))
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["field"] == field and field in problem["detail"]
    assert sim.requests() == 0
