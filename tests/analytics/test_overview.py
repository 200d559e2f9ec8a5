"""Overview and compare answers: right numbers, exactly the upstream requests needed, cached."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from service.analytics.assemble import FIELDS, TOTAL_FIELDS
from service.analytics.partitions import utc_days
from service.analytics.timezones import utc_window, zone
from simulator.data import LIST_METRICS, rows_between
from tests.conftest import PROJECT, Sim, body

NOW = datetime.now(UTC)


def expected_daily(project: str, start: date, end: date, tz: str) -> dict[str, dict[str, int]]:
    """Independent roll-up of the simulator's rows into local dates."""
    first, last = utc_window(start, end, tz)
    daily: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTAL_FIELDS, 0))
    for metric, (count_field, success_field) in FIELDS.items():
        for row in rows_between(project, metric, first, last, NOW):
            t = datetime.fromisoformat(row["period"]).astimezone(zone(tz))
            entry = daily[t.date().isoformat()]
            entry[count_field] += row["count"]
            if success_field:
                entry[success_field] += row["successCount"]
    return daily


@pytest.mark.parametrize("tz", ["UTC", "Europe/Helsinki", "America/New_York", "Asia/Tokyo"])
async def test_totals_and_daily_equal_the_simulator_rows(client: Any, tz: str) -> None:
    """Totals and every daily entry equal sums of the upstream rows, in the asked zone."""
    resp = await client.post(
        "/api/analytics/overview", json=body(start="2025-03-01", end="2025-04-05", tz=tz)
    )
    assert resp.status == 200
    data = await resp.json()
    want = expected_daily(PROJECT, date(2025, 3, 1), date(2025, 4, 5), tz)
    assert [d["date"] for d in data["daily"]] == [
        (date(2025, 3, 1) + timedelta(days=i)).isoformat() for i in range(36)
    ]
    for entry in data["daily"]:
        assert {f: entry[f] for f in TOTAL_FIELDS} == want[entry["date"]], entry["date"]
    for f in TOTAL_FIELDS:
        assert data["totals"][f] == sum(d[f] for d in want.values()), f
    assert data["range"] == {"start": "2025-03-01", "end": "2025-04-05", "tz": tz, "days": 36}


async def test_cold_overview_costs_exactly_the_pages(client: Any, sim: Sim) -> None:
    """A cold 31-day overview: per metric ceil(rows/500) requests, top_intents one, no repeats."""
    resp = await client.post(
        "/api/analytics/overview",
        json=body(start="2025-01-01", end="2025-01-31", tz="Europe/Helsinki"),
    )
    assert resp.status == 200
    first, last = utc_window(date(2025, 1, 1), date(2025, 1, 31), "Europe/Helsinki")
    days = utc_days(first, last)
    window = (
        datetime.combine(days[0], datetime.min.time(), UTC),
        datetime.combine(days[-1], datetime.max.time(), UTC),
    )
    for metric in LIST_METRICS:
        rows = len(rows_between(PROJECT, metric, *window, NOW))
        assert sim.requests(metric) == max(1, math.ceil(rows / 500)), metric
    assert sim.requests("top_intents") == 1
    log = [(e["name"], e["startTime"], e["endTime"], e["cursor"]) for e in sim.state.stats()["log"]]
    assert len(log) == len(set(log)), "a page was requested twice"
    total = sim.requests()
    resp = await client.post(
        "/api/analytics/overview",
        json=body(start="2025-01-01", end="2025-01-31", tz="Europe/Helsinki"),
    )
    assert resp.headers["X-Cache"] == "HIT"
    assert sim.requests() == total


async def test_miss_then_hit_and_one_key_per_question(client: Any, sim: Sim) -> None:
    """Key order, tz aliases, case and whitespace in the zone name make the same cache key."""
    first = await client.post("/api/analytics/overview", json=body(tz="Europe/Kyiv"))
    assert first.headers["X-Cache"] == "MISS"
    spent = sim.requests()
    for spelling in (
        {"tz": "Europe/Kiev", "end": "2025-01-31", "start": "2025-01-01", "project_id": PROJECT},
        body(tz=" europe/kyiv "),
        body(tz="EUROPE/KIEV", environment_id=None),
    ):
        resp = await client.post("/api/analytics/overview", json=spelling)
        assert resp.status == 200
        assert resp.headers["X-Cache"] == "HIT", spelling
        assert (await resp.json())["range"]["tz"] == "Europe/Kyiv"
    assert sim.requests() == spent


async def test_overview_shape_and_meta(client: Any) -> None:
    """The answer has totals, daily, every breakdown, notes and meta from Voiceflow."""
    data = await (await client.post("/api/analytics/overview", json=body())).json()
    bd = data["breakdowns"]
    assert set(bd) == {
        "interactions_by_type",
        "credits_by_model",
        "top_intents",
        "functions",
        "api_tools",
        "integrations",
        "kb_documents",
    }
    assert sum(b["count"] for b in bd["interactions_by_type"]) == data["totals"]["interactions"]
    assert sum(b["count"] for b in bd["credits_by_model"]) == data["totals"]["credits"]
    assert sum(f["count"] for f in bd["functions"]) == data["totals"]["function_calls"]
    assert sum(f["success_count"] for f in bd["api_tools"]) == data["totals"]["api_successes"]
    assert bd["top_intents"] and bd["top_intents"] == sorted(
        bd["top_intents"], key=lambda i: -i["count"]
    )
    assert data["meta"]["source"] == "voiceflow" and data["meta"]["stale"] is False
    assert "per hour" in data["notes"]["unique_users"]


async def test_environment_filter(client: Any) -> None:
    """With environment_id, only that environment's rows count; the parts add up to the whole."""
    whole = await (await client.post("/api/analytics/overview", json=body())).json()
    first, last = utc_window(date(2025, 1, 1), date(2025, 1, 31), "UTC")
    envs = {r["environmentID"] for r in rows_between(PROJECT, "interactions", first, last, NOW)}
    assert len(envs) >= 2
    parts = [
        await (await client.post("/api/analytics/overview", json=body(environment_id=e))).json()
        for e in envs
    ]
    for f in TOTAL_FIELDS:
        assert sum(p["totals"][f] for p in parts) == whole["totals"][f], f


async def test_compare_previous_period(client: Any, sim: Sim) -> None:
    """Compare: the previous period has the same length and ends the day before start."""
    resp = await client.post(
        "/api/analytics/compare", json=body(start="2025-03-01", end="2025-03-31")
    )
    assert resp.status == 200
    data = await resp.json()
    assert data["previous_range"] == {
        "start": "2025-01-29",
        "end": "2025-02-28",
        "tz": "UTC",
        "days": 31,
    }
    cur = await (
        await client.post(
            "/api/analytics/overview", json=body(start="2025-03-01", end="2025-03-31")
        )
    ).json()
    prev = await (
        await client.post(
            "/api/analytics/overview", json=body(start="2025-01-29", end="2025-02-28")
        )
    ).json()
    for f in TOTAL_FIELDS:
        m = data["metrics"][f]
        assert (m["current"], m["previous"]) == (cur["totals"][f], prev["totals"][f])
        assert m["change"] == m["current"] - m["previous"]
        if m["previous"]:
            assert m["percent_change"] == round(100 * m["change"] / m["previous"], 2)


async def test_percent_change_is_null_when_previous_is_zero(client: Any) -> None:
    """Before the project had data, the previous period is all zeros: percent is null."""
    data = await (
        await client.post("/api/analytics/compare", json=body(start="2020-01-01", end="2020-01-10"))
    ).json()
    for f in TOTAL_FIELDS:
        assert data["metrics"][f]["previous"] == 0
        assert data["metrics"][f]["percent_change"] is None


async def test_compare_fetches_both_periods_concurrently(client: Any, sim: Sim) -> None:
    """With upstream latency L, compare takes one round of L, where one period after the other
    would take two (a structural bound, not a speed target)."""
    sim.state.config.latency_s = 1.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await client.post(
        "/api/analytics/compare", json=body(start="2025-05-01", end="2025-05-03")
    )
    assert resp.status == 200
    elapsed = loop.time() - started
    # Every metric of both periods is one page: all of them run side by side.
    assert sim.requests() == 2 * (len(LIST_METRICS) + 1)
    assert elapsed < 1.8, elapsed


async def test_etag_and_304(client: Any) -> None:
    """If-None-Match with the current ETag answers 304 with no body."""
    resp = await client.post("/api/analytics/overview", json=body())
    etag = resp.headers["ETag"]
    assert resp.headers["Cache-Control"].startswith("private, max-age=")
    again = await client.post(
        "/api/analytics/overview", json=body(), headers={"If-None-Match": etag}
    )
    assert again.status == 304
    assert await again.read() == b""


async def test_gzip_bytes_go_out_as_stored(client: Any) -> None:
    """A client that accepts gzip gets Content-Encoding gzip; one that does not, plain JSON."""
    resp = await client.post(
        "/api/analytics/overview",
        json=body(),
        headers={"Accept-Encoding": "gzip"},
        auto_decompress=False,
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    raw = await resp.read()
    assert raw[:2] == b"\x1f\x8b"
    plain = await client.post(
        "/api/analytics/overview", json=body(), headers={"Accept-Encoding": "identity"}
    )
    assert "Content-Encoding" not in plain.headers
    assert (await plain.json())["project_id"] == PROJECT
