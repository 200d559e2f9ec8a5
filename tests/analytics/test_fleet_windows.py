"""Two processes over overlapping ranges cut the days into no more windows than one would."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from service.analytics.rows import LIST_METRICS
from service.analytics.wants import GATHER_SECONDS, MERGE_MAX_RATE
from tests.analytics.test_caching import fetched_days
from tests.conftest import Factory, Sim, body

# A budget at which asks plan segments across their ranges (wants.py), and no lower: the
# budget must not be what these tests wait for.
TIGHT = {"UPSTREAM_RATE_PER_SECOND": str(MERGE_MAX_RATE)}


def windows(sim: Sim) -> dict[str, list[tuple[date, date]]]:
    """Each list metric's upstream windows (a query's first page), in order."""
    out: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for e in sim.state.stats()["log"]:
        if e["status"] == 200 and e["name"] in LIST_METRICS and e["cursor"] is None:
            first = datetime.fromisoformat(e["startTime"]).date()
            out[e["name"]].append((first, datetime.fromisoformat(e["endTime"]).date()))
    return out


@pytest.mark.parametrize("store_kind", ["redis", "cluster"])
async def test_a_long_run_waits_for_the_density_a_fetch_elsewhere_learns(
    make_client: Factory, sim: Sim
) -> None:
    """A quarter asked in one process while another fetches an overlapping fortnight (the
    metrics' densities unknown) waits to learn them: two windows a metric, as one process
    asking one after the other, not a blind month and the rest; no day fetched twice."""
    sim.state.config.latency_s = 0.6  # the fortnight is still in flight as the quarter plans
    wait = {"UPSTREAM_MAX_WAIT_SECONDS": "30"}  # an answer, not a 503, however long it takes
    one, two = await make_client(**wait), await make_client(**wait)
    fortnight = body(start="2025-03-25", end="2025-04-07", tz="UTC")
    quarter = body(start="2025-01-01", end="2025-03-31", tz="UTC")

    async def later(client: Any, payload: dict[str, Any]) -> Any:
        await asyncio.sleep(GATHER_SECONDS + 0.1)  # once the fortnight has planned alone
        return await client.post("/api/analytics/overview", json=payload)

    answers = await asyncio.gather(
        one.post("/api/analytics/overview", json=fortnight), later(two, quarter)
    )
    assert [r.status for r in answers] == [200, 200]
    expected = [(date(2025, 3, 25), date(2025, 4, 7)), (date(2025, 1, 1), date(2025, 3, 24))]
    assert {m: sorted(w, reverse=True) for m, w in windows(sim).items()} == {
        m: expected for m in LIST_METRICS
    }
    assert set(Counter(fetched_days(sim)).values()) == {1}


@pytest.mark.parametrize("store_kind", ["redis", "cluster"])
async def test_a_short_range_inside_a_waiting_one_is_fetched_in_the_same_window(
    make_client: Factory, sim: Sim
) -> None:
    """While a quarter waits elsewhere for a metric's density, a ten-day range inside it does
    not take a window of its own (which would cut the quarter in three): it waits too, and
    the quarter's days, its own among them, are fetched as one window, whoever leases them."""
    sim.state.config.latency_s = 0.6  # the fortnight is still in flight as the others plan
    wait = {"UPSTREAM_MAX_WAIT_SECONDS": "30", **TIGHT}
    one, two = await make_client(**wait), await make_client(**wait)
    fortnight = body(start="2025-03-25", end="2025-04-07", tz="UTC")
    quarter = body(start="2025-01-01", end="2025-03-31", tz="UTC")
    inside = body(start="2025-02-01", end="2025-02-10", tz="UTC")

    async def later(client: Any, payload: dict[str, Any], delay: float) -> Any:
        await asyncio.sleep(delay)
        return await client.post("/api/analytics/overview", json=payload)

    answers = await asyncio.gather(
        one.post("/api/analytics/overview", json=fortnight),
        later(two, quarter, GATHER_SECONDS + 0.1),  # once the fortnight has planned alone
        later(one, inside, GATHER_SECONDS + 0.2),
    )
    assert [r.status for r in answers] == [200, 200, 200]
    expected = [(date(2025, 3, 25), date(2025, 4, 7)), (date(2025, 1, 1), date(2025, 3, 24))]
    assert {m: sorted(w, reverse=True) for m, w in windows(sim).items()} == {
        m: expected for m in LIST_METRICS
    }
    assert set(Counter(fetched_days(sim)).values()) == {1}


async def test_the_fetch_learning_a_density_learns_it_from_a_segment_it_need_not_cut(
    make_client: Factory, sim: Sim
) -> None:
    """A quarter and a month to today, asked together while the densities are unknown: the
    month's start cuts the quarter's days in two segments (wants.py). The fetch that learns
    the density fetches the recent week, which needs no density, and the older segment only
    once it is known: whole, not cut blind to 32 days with the rest a window of its own."""
    client = await make_client(**TIGHT)
    today = datetime.now(UTC).date()
    quarter = body(start=str(today - timedelta(days=89)), end=str(today), tz="UTC")
    month = body(start=str(today - timedelta(days=29)), end=str(today), tz="UTC")

    async def later(payload: dict[str, Any]) -> Any:
        await asyncio.sleep(0.02)  # within the quarter's gathering of wants
        return await client.post("/api/analytics/overview", json=payload)

    answers = await asyncio.gather(
        client.post("/api/analytics/overview", json=quarter), later(month)
    )
    assert [r.status for r in answers] == [200, 200]
    d = [today - timedelta(days=n) for n in (7, 8, 29, 30, 89)]
    expected = [(d[0], today), (d[2], d[1]), (d[4], d[3])]
    assert {m: sorted(w, reverse=True) for m, w in windows(sim).items()} == {
        m: expected for m in LIST_METRICS
    }
