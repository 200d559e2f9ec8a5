"""Open parts are renewed ahead of their expiry, spread over the warmer's runs, so that
refreshing an answer then costs nothing upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from service.analytics.query import parse_query
from service.core import Core, open_core
from service.fleet.tally import tally_requests
from tests.conftest import PROJECT, Sim, body, make_settings
from warmer import jobs
from warmer.renewal import due_now


def test_parts_lapsing_before_the_next_run_are_due() -> None:
    assert due_now([3, 5, 30], interval=4, margin=2, per_run=10) == 2
    assert due_now([], interval=4, margin=2, per_run=10) == 0
    assert due_now([60, 60], interval=4, margin=2, per_run=10) == 0


def test_what_later_runs_cannot_fit_falls_to_this_one() -> None:
    # 10 parts lapsing in 14 s; runs every 4 s at 2 each: the 3 later runs before then
    # (at 4, 8 and 12 s, less the 2 s margin) take 6, so this run takes 4.
    assert due_now([14] * 10, interval=4, margin=2, per_run=2) == 4
    # Spread out already: each lapses after enough runs to take it.
    assert due_now([6, 10, 14, 18], interval=4, margin=2, per_run=1) == 0
    # More than all the runs before they lapse can take: this one takes all it must.
    assert due_now([6] * 5, interval=4, margin=2, per_run=1) == 4


@pytest.fixture
async def core(sim: Sim, redis_env: dict[str, str]) -> AsyncIterator[Core]:
    settings = make_settings(
        sim,
        **redis_env,
        CACHE_OPEN_DAY_TTL_SECONDS="8",
        WARMER_TOP_K="10",
        WARMER_MARGIN_SECONDS="0",
    )
    async with open_core(settings) as opened:
        yield opened


async def test_a_run_renews_the_open_parts_before_they_lapse(core: Core, sim: Sim) -> None:
    today = datetime.now(UTC).date()
    query = parse_query(
        body(start=(today - timedelta(days=6)).isoformat(), end=today.isoformat()), 366
    )
    await core.analytics.overview(query)
    core.popularity.bump("overview", query.canonical())
    await core.popularity.flush()
    parts, read_at = await core.open_parts.of(PROJECT, ["UTC"]), time.monotonic()
    assert parts and all(0 < p.left <= 8 for p in parts)
    candidates = await jobs.popular(core, 10)

    # The next run is 1 s away: every part outlives it, and the later runs can take them.
    report = await jobs.run(
        core, "refresh", candidates, until_next=1, stop_reason=lambda: None, acted_by="t"
    )
    assert report.renewed == 0

    # The next run is 60 s away: every part would lapse before it, so all are renewed now,
    # one request each (a day of the simulator's rows fits in one page).
    await asyncio.sleep(0.3)  # so that a renewed part's time left is measurably longer
    before = sim.requests()
    report = await jobs.run(
        core, "refresh", candidates, until_next=60, stop_reason=lambda: None, acted_by="t"
    )
    assert report.renewed == len(parts) and report.failed == 0
    assert sim.requests() - before == report.upstream == len(parts)
    renewed, renewed_at = await core.open_parts.of(PROJECT, ["UTC"]), time.monotonic()
    # Each now lapses later than it did (lefts are read at different times: compare when).
    later = renewed_at - read_at
    assert all(a.left + later > b.left + 0.2 for a, b in zip(renewed, parts, strict=True))

    # Refreshing the answer now finds every part fresh.
    with tally_requests() as spent:
        await core.analytics.refresh("overview", query)
    assert spent[0] == 0
