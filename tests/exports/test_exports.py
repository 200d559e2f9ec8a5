"""Exports: the CSV and the PDF hold the answers' numbers, cost no extra upstream request,
are cached briefly, and render off the event loop within a bound."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pypdf
import pytest
from reportlab.lib.pagesizes import A4, letter

from service.analytics.assemble import TOTAL_FIELDS
from service.app import EXPORT_RENDERS
from service.exports.csv import BREAKDOWNS
from service.exports.layout import integer, percent, signed
from service.exports.pdf import KPI_LABELS
from service.exports.pool import RenderPool
from service.http.appkeys import EXPORTS
from tests.conftest import PROJECT, Sim, body

RANGES = {  # days -> (start, end)
    1: ("2025-02-14", "2025-02-14"),
    90: ("2025-01-01", "2025-03-31"),
    366: ("2024-03-01", "2025-03-01"),
}
TZ = "Europe/Helsinki"


async def export(client: Any, **fields: Any) -> Any:
    fields.setdefault("format", "pdf")
    return await client.post("/api/export", json=body(**fields))


async def answer(client: Any, kind: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(f"/api/analytics/{kind}", json=body(**fields))
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data


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


async def test_export_after_the_answers_costs_no_upstream_request(client: Any, sim: Sim) -> None:
    """A CSV after the overview, a PDF after the compare: zero upstream requests."""
    await answer(client, "overview")
    spent = sim.requests()
    assert (await export(client, format="csv")).status == 200
    assert sim.requests() == spent
    await answer(client, "compare")
    spent = sim.requests()
    for size in ("A4", "Letter"):
        assert (await export(client, page_size=size)).status == 200
    assert sim.requests() == spent


async def test_repeated_export_is_a_cache_hit(
    client: Any, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same export again: X-Cache HIT, the same bytes, no render, no upstream request."""
    renders = count_renders(client, monkeypatch)
    first = await export(client, page_size="Letter")
    assert first.headers["X-Cache"] == "MISS"
    spent = sim.requests()
    again = await export(client, page_size="Letter")
    assert again.headers["X-Cache"] == "HIT"
    assert await again.read() == await first.read()
    assert renders() == 1 and sim.requests() == spent
    assert (await export(client, page_size="A4")).headers["X-Cache"] == "MISS"
    csv = await export(client, format="csv")
    assert csv.headers["X-Cache"] == "MISS"
    # A CSV has no pages: page_size does not make it another question.
    assert (await export(client, format="csv", page_size="Letter")).headers["X-Cache"] == "HIT"
    assert renders() == 3


def count_renders(client: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    renders = client.app[EXPORTS]
    calls = []
    real = renders.run

    async def counted(*args: Any) -> Any:
        calls.append(args[0])
        return await real(*args)

    monkeypatch.setattr(renders, "run", counted)
    return lambda: len(calls)


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_concurrent_exports_stay_within_the_bound(client: Any) -> None:
    """Three times the bound of PDF exports at once: all succeed, never more than the bound
    render at a time, and a cached overview answers promptly meanwhile."""
    renders = client.app[EXPORTS]
    await answer(client, "compare", start="2025-01-01", end="2025-03-31")
    await answer(client, "overview")
    exports = asyncio.gather(
        *(
            export(client, start="2025-01-01", end="2025-03-31", page_size=("A4", "Letter")[i % 2])
            for i in range(3 * EXPORT_RENDERS)
        )
    )
    peaks = []

    async def sample() -> None:
        while not exports.done():
            peaks.append(renders.running)
            await asyncio.sleep(0.002)

    sampler = asyncio.ensure_future(sample())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    assert time.perf_counter() - started < 0.25
    assert [r.status for r in await exports] == [200] * (3 * EXPORT_RENDERS)
    await sampler
    assert 1 <= max(peaks) <= EXPORT_RENDERS


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_exports_queue_for_a_renderer_while_overview_answers(client: Any) -> None:
    """With every renderer busy, an export waits for one (no error) and a cached overview
    answers at once meanwhile."""
    await answer(client, "compare")
    slots = client.app[EXPORTS].slots
    for _ in range(EXPORT_RENDERS):
        await slots.acquire()
    queued = asyncio.ensure_future(export(client))
    started = time.perf_counter()
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    assert time.perf_counter() - started < 0.25
    await asyncio.sleep(0.3)
    assert not queued.done()
    slots.release()
    assert (await queued).status == 200


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_busy_renderers_answer_503_with_retry_after(client: Any) -> None:
    """With every renderer busy past the wait: 503 problem+json with Retry-After."""
    await answer(client, "compare")
    renders = client.app[EXPORTS]
    renders.wait = 0.2
    for _ in range(EXPORT_RENDERS):
        await renders.slots.acquire()
    resp = await export(client)
    assert resp.status == 503
    assert resp.content_type == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1
    assert "busy" in (await resp.json())["detail"]


async def test_a_cancelled_export_keeps_its_slot_until_the_render_ends() -> None:
    """A client hanging up mid-render does not free the slot early (the bound holds)."""
    renders = RenderPool(1)
    try:
        request = asyncio.ensure_future(renders.run(time.sleep, 0.6))
        await asyncio.sleep(0.3)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert renders.slots.locked() and renders.running == 1
        async with asyncio.timeout(5):
            await renders.slots.acquire()
        assert renders.running == 0
    finally:
        await renders.close()
