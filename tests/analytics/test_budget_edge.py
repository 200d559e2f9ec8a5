"""At the budget edge: a page paid for is never lost, and a waiting client is told the truth."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from service.analytics.rows import LIST_METRICS
from service.app import create_app
from simulator.data import rows_between
from tests.conftest import PROJECT, Sim, body, make_settings

YEAR = {"start": "2024-01-01", "end": "2024-12-31"}  # closed days: checkpointed as fetched


def pages(log: list[dict[str, Any]]) -> Counter[tuple[str, str, str, Any]]:
    """Each answered page (metric, window, cursor) and how often it was fetched."""
    return Counter(
        (e["name"], e["startTime"], e["endTime"], e["cursor"]) for e in log if e["status"] == 200
    )


def pages_needed(start: date, end: date) -> int:
    """ceil(rows / 500) per metric over the UTC days: one ranged query each."""
    first = datetime.combine(start, datetime.min.time(), UTC)
    last = datetime.combine(end, datetime.max.time(), UTC)
    now = datetime.now(UTC)
    return sum(
        max(1, math.ceil(len(rows_between(PROJECT, m, first, last, now)) / 500))
        for m in LIST_METRICS
    )


async def ask_until_answered(client: Any, payload: dict[str, Any]) -> tuple[Any, list[Any]]:
    """Ask as a careful client does; the final answer and every 503 on the way."""
    told = []
    while True:
        resp = await client.post("/api/analytics/overview", json=payload)
        if resp.status != 503:
            return resp, told
        told.append(await resp.json())
        await asyncio.sleep(float(resp.headers["Retry-After"]))


async def test_an_abandoned_fetch_completes_and_the_next_ask_costs_nothing(
    sim: Sim, aiohttp_client: Any, redis_url: str
) -> None:
    """A client told to come back gets its answer from the fetch that went on meanwhile."""
    sim.state.config.latency_s = 0.02  # a year's pages take several times the wait
    client = await aiohttp_client(
        create_app(make_settings(sim, redis_url, UPSTREAM_MAX_WAIT_SECONDS="0.3"))
    )
    resp, told = await ask_until_answered(client, body(**YEAR))
    assert resp.status == 200 and told, "the year should outlast one wait"
    first = told[0]
    assert first["type"].endswith("/still-fetching")
    assert set(first["progress"]) >= {
        "metric_days_done",
        "metric_days_needed",
        "pages_fetched",
        "pages_left",
    }
    log = sim.state.stats()["log"]
    fetched = pages(log)
    assert max(fetched.values()) == 1, "a page was fetched twice"
    # One query per metric, plus at most one partial page where the newest week was cut off.
    list_pages = sum(n for (name, *_), n in fetched.items() if name in LIST_METRICS)
    assert list_pages <= pages_needed(date(2024, 1, 1), date(2024, 12, 31)) + len(LIST_METRICS)
    before = len(log)
    again = await client.post("/api/analytics/overview", json=body(**YEAR))
    assert again.status == 200 and again.headers["X-Cache"] == "HIT"
    assert len(sim.state.stats()["log"]) == before


async def test_a_stopped_fetch_is_resumed_from_its_checkpoint(
    sim: Sim, aiohttp_client: Any, redis_url: str
) -> None:
    """A process stopped mid-fetch leaves its pages; another resumes after the last one."""
    sim.state.config.latency_s = 0.02
    settings = make_settings(sim, redis_url, UPSTREAM_MAX_WAIT_SECONDS="0.3")
    first = TestClient(TestServer(create_app(settings)))
    await first.start_server()
    try:
        resp = await first.post("/api/analytics/overview", json=body(**YEAR))
        assert resp.status == 503
        await asyncio.sleep(1.0)  # pages are being fetched and checkpointed
    finally:
        await first.close()  # stops the fetch mid-way (as a shutdown does)
    stopped_at = len(sim.state.stats()["log"])
    assert stopped_at > len(LIST_METRICS), "the fetch should have been under way"
    second = await aiohttp_client(create_app(settings))
    resp, _ = await ask_until_answered(second, body(**YEAR))
    assert resp.status == 200
    fetched = pages(sim.state.stats()["log"])
    again = sum(n - 1 for n in fetched.values())
    # At most the page each chunk had in flight when the first process stopped.
    assert again <= len(LIST_METRICS), again
