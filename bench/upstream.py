"""Upstream cost of the caching model vs a whole-range TTL cache (the seed guide's).

Counts the requests the Voiceflow simulator answers for five workloads:
(a) a cold 31-day overview; (b) the same window slid forward one day; (c) a 90-day overview
after the 31-day one; (d) 200 concurrent identical cold requests spread over 2 service
processes on one Redis; (e) 200 concurrent requests for 20 overlapping ranges of a project.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from bench import baseline
from bench.env import KEY, PROJECT, Redis, service, simulator
from service.analytics.rows import LIST_METRICS
from service.config.settings import Secret
from service.upstream.voiceflow import VoiceflowClient
from simulator.app import SimulatorState
from tests.processes import sim_control, start_service, start_simulator

# This benchmark counts requests, not their pace: the budget is set out of the way.
UNLIMITED = {"UPSTREAM_RATE_PER_SECOND": "100000", "UPSTREAM_BURST": "100000"}
A = (date(2025, 1, 1), date(2025, 1, 31))
B = (date(2025, 1, 2), date(2025, 2, 1))
C = (date(2024, 11, 3), date(2025, 1, 31))  # 90 days ending where A ends
OVERLAPPING = [
    (date(2025, 5, 1) + timedelta(days=3 * i), date(2025, 5, 1) + timedelta(days=3 * i + 9 + i))
    for i in range(20)
]


def payload(start: date, end: date) -> dict[str, Any]:
    return {"project_id": PROJECT, "start": start.isoformat(), "end": end.isoformat()}


def answered(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if e["status"] == 200]


def day_fetches(log: list[dict[str, Any]]) -> Counter[tuple[str, date]]:
    """(metric, UTC day) → queries that covered it (each query's cursor-less first page)."""
    seen: Counter[tuple[str, date]] = Counter()
    for name, start, end in [
        (e["name"], e["startTime"], e["endTime"])
        for e in answered(log)
        if e["name"] in LIST_METRICS and e["cursor"] is None
    ]:
        d = datetime.fromisoformat(start).date()
        while d <= datetime.fromisoformat(end).date():
            seen[(name, d)] += 1
            d += timedelta(days=1)
    return seen


async def ours_sequence(redis_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with (
        simulator() as (sim_url, state),
        service(sim_url, redis_url, **UNLIMITED) as url,
        aiohttp.ClientSession() as http,
    ):

        async def ask(rng: tuple[date, date]) -> int:
            state.reset()
            async with http.post(f"{url}/api/analytics/overview", json=payload(*rng)) as r:
                assert r.status == 200, await r.text()
            return len(answered(state.stats()["log"]))

        out["a"] = await ask(A)
        out["b"] = await ask(B)
        out["c"] = await ask(C)
        out["c_days"] = len({d for _, d in day_fetches(state.stats()["log"])})
    out["bytes"] = await stored_day_bytes(redis_url)
    return out


async def stored_day_bytes(redis_url: str) -> dict[str, float]:
    """Mean stored bytes per UTC day, per metric, against the rows' JSON as Voiceflow sent it."""
    from simulator.data import rows_between

    r = aioredis.Redis.from_url(redis_url)
    sizes: dict[str, list[int]] = {m: [] for m in LIST_METRICS}
    async for key in r.scan_iter(match="*:day:*", count=1000):
        metric = key.decode().split("{", 1)[1].split("}", 1)[0].split(":")[1]
        sizes[metric].append(int(await r.strlen(key)))
    await r.aclose()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    day = {
        m: len(
            orjson.dumps(
                rows_between(
                    PROJECT,
                    m,
                    start,
                    start + timedelta(hours=23, minutes=59),
                    start + timedelta(days=400),
                )
            )
        )
        for m in LIST_METRICS
    }
    return {m: sum(v) / len(v) for m, v in sizes.items() if v} | {
        f"{m}_json": float(day[m]) for m in LIST_METRICS
    }


async def ours_overlapping(redis_url: str) -> tuple[int, int]:
    async with (
        simulator(latency_s=0.05) as (sim_url, state),
        service(sim_url, redis_url, **UNLIMITED) as url,
        aiohttp.ClientSession() as http,
    ):
        await asyncio.gather(*(ask(http, url, OVERLAPPING[i % 20]) for i in range(200)))
        fetches = day_fetches(state.stats()["log"])
        return len(answered(state.stats()["log"])), max(fetches.values())


async def ask(http: aiohttp.ClientSession, url: str, rng: tuple[date, date]) -> None:
    async with http.post(f"{url}/api/analytics/overview", json=payload(*rng)) as r:
        assert r.status == 200, await r.text()


async def ours_two_processes(redis_url: str) -> int:
    sim = start_simulator(KEY, "--latency", "200")
    procs = []
    try:
        common = {
            "REDIS_URL": redis_url,
            "VOICEFLOW_API_KEY": KEY,
            "VOICEFLOW_ANALYTICS_URL": sim.url,
            **UNLIMITED,
        }
        procs = [start_service(common) for _ in range(2)]
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(ask(http, procs[i % 2].url, A) for i in range(200)))
        return len(answered(sim_control(sim, "stats")["log"]))
    finally:
        for p in procs:
            p.stop()
        sim.stop()


async def baseline_all(redis_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with simulator() as (sim_url, state), aiohttp.ClientSession() as http:
        client = VoiceflowClient(
            http, sim_url, Secret(KEY), timeout=120, deadline=300, max_retries=3, max_pages=1000
        )
        r = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(redis_url))

        async def cost(ranges: list[tuple[date, date]], st: SimulatorState) -> int:
            st.reset()
            await asyncio.gather(*(baseline.overview(r, client, PROJECT, *rng) for rng in ranges))
            return len(answered(st.stats()["log"]))

        out["a"] = await cost([A], state)
        out["b"] = await cost([B], state)
        out["c"] = await cost([C], state)
        await r.flushall()
        state.config.latency_s = 0.2
        out["d"] = await cost([A] * 200, state)
        await r.flushall()
        state.config.latency_s = 0.05
        out["e"] = await cost([OVERLAPPING[i % 20] for i in range(200)], state)
        out["e_max"] = max(day_fetches(state.stats()["log"]).values())
        await r.aclose()
    return out


def pages_needed(start: date, end: date) -> int:
    """ceil(rows / 500) per metric (at least one request), plus one for top_intents."""
    from simulator.data import rows_between

    first = datetime.combine(start, datetime.min.time(), UTC)
    last = datetime.combine(end, datetime.max.time(), UTC)
    now = datetime.now(UTC)
    return 1 + sum(
        max(1, math.ceil(len(rows_between(PROJECT, m, first, last, now)) / 500))
        for m in LIST_METRICS
    )


async def run() -> tuple[list[tuple[str, Any, Any, str]], dict[str, float]]:
    with Redis() as server:
        ours = await ours_sequence(server.url)
        server.flush()
        ours["d"] = await ours_two_processes(server.url)
        server.flush()
        ours["e"], ours["e_max"] = await ours_overlapping(server.url)
        server.flush()
        base = await baseline_all(server.url)
    metrics = len(LIST_METRICS)
    need = pages_needed(*A)
    return [
        (
            "(a) cold 31-day overview",
            ours["a"],
            base["a"],
            f"== pages needed ({need}): {'ok' if ours['a'] == need else 'FAIL'}",
        ),
        (
            "(b) same window slid one day",
            ours["b"],
            base["b"],
            f"<= {metrics + 1}: {'ok' if ours['b'] <= metrics + 1 else 'FAIL'}",
        ),
        (
            "(c) 90 days after the 31",
            ours["c"],
            base["c"],
            f"days fetched: {ours['c_days']} (want 59)",
        ),
        (
            "(d) 200 identical cold, 2 procs",
            ours["d"],
            base["d"],
            f"== (a): {'ok' if ours['d'] == ours['a'] else 'FAIL'}",
        ),
        (
            "(e) 200 over 20 overlapping",
            ours["e"],
            base["e"],
            f"max fetches of a day: ours {ours['e_max']}, baseline {base['e_max']}",
        ),
    ], ours["bytes"]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    rows, sizes = asyncio.run(run())
    print("upstream requests (Voiceflow simulator), ours vs whole-range TTL cache")
    print(f"{'workload':34} {'ours':>6} {'baseline':>9} {'ratio':>7}  check")
    for name, ours, base, check in rows:
        ratio = f"{base / ours:.1f}x" if ours else "-"
        print(f"{name:34} {ours:>6} {base:>9} {ratio:>7}  {check}")
    print("\nstored bytes per UTC day of a busy project (zlib'd columns vs the rows' JSON)")
    total = sum(sizes[m] for m in LIST_METRICS)
    raw = sum(sizes[f"{m}_json"] for m in LIST_METRICS)
    for m in LIST_METRICS:
        print(f"  {m:16} {sizes[m]:8.0f} B   JSON {sizes[f'{m}_json']:8.0f} B")
    print(f"  {'all metrics':16} {total:8.0f} B   JSON {raw:8.0f} B  ({raw / total:.0f}x smaller)")


if __name__ == "__main__":
    main()
