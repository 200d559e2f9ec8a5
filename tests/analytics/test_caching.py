"""The caching model: day partitions, fetch planning, stale-while-revalidate, hard TTL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from service.analytics.rows import LIST_METRICS
from tests.conftest import Sim, body


def fetched_days(sim: Sim) -> Counter[tuple[str, date]]:
    """(metric, UTC day) → how many upstream queries covered it (a query's first page is the
    one without a cursor, so a window fetched twice counts twice)."""
    seen: Counter[tuple[str, date]] = Counter()
    queries = [
        (e["name"], e["startTime"], e["endTime"])
        for e in sim.state.stats()["log"]
        if e["status"] == 200 and e["name"] in LIST_METRICS and e["cursor"] is None
    ]
    for name, start, end in queries:
        d = datetime.fromisoformat(start).date()
        while d <= datetime.fromisoformat(end).date():
            seen[(name, d)] += 1
            d += timedelta(days=1)
    return seen


async def test_slid_window_fetches_one_day_per_metric(client: Any, sim: Sim) -> None:
    """A 31-day window slid by a day costs one request per metric plus top_intents."""
    await client.post("/api/analytics/overview", json=body(start="2025-01-01", end="2025-01-31"))
    sim.state.reset()
    resp = await client.post(
        "/api/analytics/overview", json=body(start="2025-01-02", end="2025-02-01")
    )
    assert resp.headers["X-Cache"] == "MISS"
    assert sim.requests() == len(LIST_METRICS) + 1
    assert set(fetched_days(sim)) == {(m, date(2025, 2, 1)) for m in LIST_METRICS}


async def test_longer_range_fetches_only_missing_days(client: Any, sim: Sim) -> None:
    """90 days after 31 of them are stored fetches exactly the 59 others, per metric."""
    await client.post("/api/analytics/overview", json=body(start="2025-03-02", end="2025-04-01"))
    sim.state.reset()
    await client.post("/api/analytics/overview", json=body(start="2025-01-01", end="2025-04-01"))
    days = fetched_days(sim)
    for metric in LIST_METRICS:
        mine = sorted(d for m, d in days if m == metric)
        assert mine == [date(2025, 1, 1) + timedelta(days=i) for i in range(60)], metric
    assert set(days.values()) == {1}


async def test_overlapping_ranges_never_fetch_a_day_twice(client: Any, sim: Sim) -> None:
    """200 concurrent requests over 20 overlapping ranges: each (metric, day) fetched once."""
    sim.state.config.latency_s = 0.05
    ranges = [(date(2025, 5, 1) + timedelta(days=3 * i), 10 + i) for i in range(20)]
    payloads = [
        body(start=s.isoformat(), end=(s + timedelta(days=n - 1)).isoformat()) for s, n in ranges
    ]
    results = await asyncio.gather(
        *(client.post("/api/analytics/overview", json=payloads[i % 20]) for i in range(200))
    )
    assert {r.status for r in results} == {200}
    days = fetched_days(sim)
    assert days and max(days.values()) == 1, [k for k, v in days.items() if v > 1][:5]


def recent(days: int) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return body(start=(today - timedelta(days=days - 1)).isoformat(), end=today.isoformat())


async def test_stale_while_revalidate(make_client: Any, sim: Sim) -> None:
    """Past the soft TTL: STALE at once to everyone, one background refresh, then HIT."""
    client = await make_client(
        CACHE_TTL_SECONDS="0.4", CACHE_OPEN_DAY_TTL_SECONDS="0.4", CACHE_SETTLE_SECONDS="0"
    )
    first = await client.post("/api/analytics/overview", json=recent(3))
    assert first.headers["X-Cache"] == "MISS"
    generated = (await first.json())["meta"]["generated_at"]
    await asyncio.sleep(1.1)
    sim.state.reset()
    stale = await asyncio.gather(
        *(client.post("/api/analytics/overview", json=recent(3)) for _ in range(20))
    )
    assert {r.headers["X-Cache"] for r in stale} == {"STALE"}
    data = await stale[0].json()
    assert data["meta"]["stale"] is True and int(stale[0].headers["Age"]) >= 1
    assert stale[0].headers["Cache-Control"] == "private, max-age=0"
    for _ in range(50):
        await asyncio.sleep(0.05)
        resp = await client.post("/api/analytics/overview", json=recent(3))
        if resp.headers["X-Cache"] == "HIT":
            break
    assert resp.headers["X-Cache"] == "HIT"
    assert (await resp.json())["meta"]["generated_at"] != generated
    # One refresh: today (the only open day) per metric, plus top_intents for the window.
    assert sim.requests() == len(LIST_METRICS) + 1


async def test_hard_ttl_ends_stale_serving(make_client: Any, sim: Sim) -> None:
    """Past soft + hard TTL an answer is not served: the request waits for a fresh one."""
    client = await make_client(CACHE_TTL_SECONDS="0.2", CACHE_STALE_SECONDS="0.2")
    assert (await client.post("/api/analytics/overview", json=body())).headers["X-Cache"] == "MISS"
    await asyncio.sleep(0.5)
    assert (await client.post("/api/analytics/overview", json=body())).headers["X-Cache"] == "MISS"


async def test_stale_if_error(make_client: Any, sim: Sim) -> None:
    """Voiceflow failing: the stale answer is served, not an error, while it is usable."""
    client = await make_client(
        CACHE_TTL_SECONDS="0.3",
        CACHE_OPEN_DAY_TTL_SECONDS="0.3",
        CACHE_SETTLE_SECONDS="0",
        UPSTREAM_MAX_RETRIES="0",
    )
    ok = await client.post("/api/analytics/overview", json=recent(2))
    assert ok.status == 200
    sim.state.fail_next(1000, 503)
    await asyncio.sleep(0.5)
    for _ in range(3):
        resp = await client.post("/api/analytics/overview", json=recent(2))
        assert (resp.status, resp.headers["X-Cache"]) == (200, "STALE")
        await asyncio.sleep(0.2)
    assert sim.requests(status=503) >= 1
    other = await client.post("/api/analytics/overview", json=recent(5))
    assert other.status == 503 and int(other.headers["Retry-After"]) >= 1


async def test_an_open_day_read_early_in_a_long_fill_is_not_fetched_again(
    make_client: Any, sim: Sim
) -> None:
    """40 days to today come in two windows a metric (the recent week first). Today, read
    with the first, lapses in the store while the second is fetched: the answer is built
    from the today it read, not fetched again for it."""
    # Every metric's older window (a page or more) outlasts today's lifetime, which leaves
    # the next read of the days fetched with it half a second.
    sim.state.config.latency_s = 0.6
    client = await make_client(CACHE_OPEN_DAY_TTL_SECONDS="0.5", UPSTREAM_MAX_WAIT_SECONDS="60")
    today = datetime.now(UTC).date()
    ask = body(start=str(today - timedelta(days=39)), end=str(today), tz="UTC")
    resp = await client.post("/api/analytics/overview", json=ask)
    assert resp.status == 200
    days = fetched_days(sim)
    assert {d for _m, d in days} == {today - timedelta(days=i) for i in range(40)}
    assert set(days.values()) == {1}  # today included: fetched once a metric
