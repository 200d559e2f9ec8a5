"""top_intents as a closed part plus a shared open part: exact answers, and what they cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from service.analytics.intents import Intents, merge
from service.analytics.query import Query
from service.analytics.timezones import utc_window, zone
from service.core import Core, open_core
from service.upstream.voiceflow import PAGE_LIMIT
from simulator import data
from tests.conftest import PROJECT, Sim, body, make_settings
from tests.redis_server import RedisServer
from warmer.jobs import preset_range

OPEN_TTL = 1.0  # seconds: short, so a test can let the open part expire


@pytest.fixture
async def core(sim: Sim, redis_server: RedisServer, store_kind: str) -> AsyncIterator[Core]:
    """The service's parts over the store under test; every part settles as soon as it ends."""
    redis_server.flush()
    url = redis_server.url if store_kind == "redis" else None
    settings = make_settings(
        sim, url, CACHE_SETTLE_SECONDS="0", CACHE_OPEN_DAY_TTL_SECONDS=str(OPEN_TTL)
    )
    async with open_core(settings) as opened:
        yield opened


def window(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """The inclusive UTC window an overview of local dates first..last asks top_intents for."""
    start, last_hour = utc_window(first, last, tz)
    return start, last_hour + timedelta(hours=1) - timedelta(milliseconds=1)


def freeze(sim: Sim) -> datetime:
    """Stop the simulator's data at the present instant, so a later reference answer counts
    the same rows of the current (growing) hour as the service saw."""
    now = datetime.now(UTC)
    sim.state.config.clock = lambda: now
    return now


@pytest.mark.parametrize("tz", ["UTC", "Europe/Helsinki", "America/New_York"])
async def test_merged_parts_equal_the_window_answer(client: Any, sim: Sim, tz: str) -> None:
    """A week ending today, cold: two requests (closed, open part), merged to Voiceflow's answer."""
    now = freeze(sim)
    first, last = preset_range("last_7", now.astimezone(zone(tz)).date())
    resp = await client.post(
        "/api/analytics/overview",
        json=body(start=first.isoformat(), end=last.isoformat(), tz=tz),
    )
    assert resp.status == 200
    got = (await resp.json())["breakdowns"]["top_intents"]
    assert got and got == data.top_intents(PROJECT, *window(first, last, tz), now, PAGE_LIMIT)
    assert sim.requests("top_intents") == 2


async def test_full_part_falls_back_to_the_exact_window(core: Core, sim: Sim) -> None:
    """A part with `limit` entries may miss intents: the exact window is asked and kept."""
    now = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)
    sim.state.config.clock = lambda: now
    intents = Intents(
        core.store,
        core.keys,
        core.client,
        core.flight,
        core.settings,
        limit=3,
        clock=now.timestamp,
    )
    start, end = window(date(2025, 3, 6), date(2025, 3, 12), "Europe/Helsinki")
    assert len(intents.parts(start, end, "Europe/Helsinki")) == 2
    assert await intents.estimate(PROJECT, start, end, "Europe/Helsinki") == 2
    got = await intents.top(PROJECT, start, end, "Europe/Helsinki")
    assert got == data.top_intents(PROJECT, start, end, now, 3) and len(got) == 3
    assert sim.requests("top_intents") == 3  # closed part (full), open part, exact window
    sim.state.reset()
    # The stored closed part is full, so the open part is not asked again: the stored exact
    # window answers.
    assert await intents.estimate(PROJECT, start, end, "Europe/Helsinki") == 0
    assert await intents.top(PROJECT, start, end, "Europe/Helsinki") == got
    assert sim.requests("top_intents") == 0


async def test_presets_share_the_open_part(core: Core, sim: Sim) -> None:
    """Two presets of a project: cold, one request per closed part plus one shared open part;
    refreshed once their closed parts are stored, one request in all."""
    sim.state.config.latency_s = 0.05  # so the two cold answers overlap
    tz = "America/New_York"  # west of UTC: a closed part ends inside a UTC day
    today = datetime.now(zone(tz)).date()
    queries = [Query(PROJECT, *preset_range(k, today), tz) for k in ("last_7", "last_30")]
    await asyncio.gather(*(core.analytics.overview(q) for q in queries))
    assert sim.requests("top_intents") == 3
    await asyncio.sleep(OPEN_TTL + 0.1)  # the open part expires; the closed parts stay
    intents = Intents(core.store, core.keys, core.client, core.flight, core.settings)
    for q in queries:
        assert await intents.estimate(PROJECT, *window(q.start, q.end, tz), tz) == 1
    sim.state.reset()
    await asyncio.gather(*(core.analytics.refresh("overview", q) for q in queries))
    assert sim.requests("top_intents") == 1


async def test_a_window_before_today_is_one_part(core: Core, sim: Sim) -> None:
    """A window that ends before today is asked as it is: one request, then none."""
    query = Query(PROJECT, date(2025, 1, 1), date(2025, 1, 31), "Europe/Helsinki")
    assert await core.analytics.estimate("overview", query) >= 1
    await core.analytics.overview(query)
    await core.analytics.refresh("overview", query)
    assert sim.requests("top_intents") == 1


def test_merge_sums_by_name_ranks_and_cuts() -> None:
    """Counts add up per name; count descending, ties by name; at most the limit."""
    closed = [{"name": "refund", "count": 5}, {"name": "billing", "count": 4}]
    today = [{"name": "billing", "count": 1}, {"name": "agent", "count": 5}]
    assert merge([closed, today], 2) == [
        {"name": "agent", "count": 5},
        {"name": "billing", "count": 5},
    ]
    assert merge([[], []], 500) == []
