"""Several real service processes on one real Redis (or PostgreSQL): one fetch per key,
fleet-wide."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.conftest import body, flush, store_env
from tests.processes import Process, sim_control, start_service, start_simulator
from tests.redis_server import free_port

KEY = "VF.WS.fleet-test-key"
FEB = body(start="2025-02-01", end="2025-02-28")


@pytest.fixture
def fleet_sim() -> Iterator[Process]:
    sim = start_simulator(KEY)
    yield sim
    sim.stop()


def start_fleet(sim: Process, store: str | Mapping[str, str], n: int, **env: str) -> list[Process]:
    """`n` service processes on one shared store: a Redis URL, or the store's settings."""
    common = {
        **({"REDIS_URL": store} if isinstance(store, str) else store),
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        **env,
    }
    return [start_service(common) for _ in range(n)]


async def post(
    session: aiohttp.ClientSession,
    proc: Process,
    payload: dict[str, Any],
    path: str = "/api/analytics/overview",
) -> tuple[int, str, dict[str, Any]]:
    async with session.post(proc.url + path, json=payload) as resp:
        return resp.status, resp.headers.get("X-Cache", ""), await resp.json()


async def post_following_retry_after(
    session: aiohttp.ClientSession, proc: Process, payload: dict[str, Any]
) -> tuple[int, str, dict[str, Any]]:
    """POST as a careful client does: on a 503, wait Retry-After and ask again."""
    while True:
        async with session.post(proc.url + "/api/analytics/overview", json=payload) as resp:
            if resp.status != 503:
                return resp.status, resp.headers.get("X-Cache", ""), await resp.json()
            await asyncio.sleep(float(resp.headers["Retry-After"]))


def upstream_requests(sim: Process) -> list[tuple[str, str, str, Any]]:
    return [
        (e["name"], e["startTime"], e["endTime"], e["cursor"])
        for e in sim_control(sim, "stats")["log"]
        if e["status"] == 200
    ]


@pytest.fixture(params=["redis", "cluster", "postgres"])
def shared_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Each store a fleet can share, emptied: its settings."""
    return store_env(request.param, request)


async def test_concurrent_cold_requests_fetch_once(
    fleet_sim: Process, shared_env: dict[str, str]
) -> None:
    """200 identical cold requests over 2 processes cost exactly what one request costs (on
    one Redis, on a Redis Cluster: leases by script, wake-ups by sharded pub/sub; and on
    PostgreSQL: leases in transactions, wake-ups by LISTEN/NOTIFY)."""
    single = start_fleet(fleet_sim, shared_env, 1)
    try:
        async with aiohttp.ClientSession() as session:
            assert (await post(session, single[0], FEB))[0] == 200
    finally:
        single[0].stop()
    one_cost = len(upstream_requests(fleet_sim))
    sim_control(fleet_sim, "reset")
    sim_control(fleet_sim, "config", {"latency_s": 0.2})
    flush(shared_env)

    fleet = start_fleet(fleet_sim, shared_env, 2)
    try:
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(post(session, fleet[i % 2], FEB) for i in range(200)))
        assert {status for status, _, _ in results} == {200}
        assert len({str(data["totals"]) for _, _, data in results}) == 1
        seen = upstream_requests(fleet_sim)
        assert len(seen) == one_cost
        assert len(set(seen)) == len(seen)
    finally:
        for proc in fleet:
            proc.stop()


async def test_killed_lease_holder_delays_waiters_at_most_the_lease_ttl(
    fleet_sim: Process, redis_url: str
) -> None:
    """The process fetching a key is SIGKILLed: the other answers within the lease TTL."""
    from service.store.keys import LEASE_TTL_SECONDS

    sim_control(fleet_sim, "config", {"latency_s": 0.5})
    holder, waiter = start_fleet(fleet_sim, redis_url, 2)
    try:
        async with aiohttp.ClientSession() as session:
            first = asyncio.create_task(post(session, holder, body()))
            await asyncio.sleep(0.5)  # the holder has its leases and is waiting on upstream
            second = asyncio.create_task(post_following_retry_after(session, waiter, body()))
            await asyncio.sleep(0.5)
            holder.kill()
            killed_at = time.monotonic()
            status, _, data = await asyncio.wait_for(second, LEASE_TTL_SECONDS + 15)
            waited = time.monotonic() - killed_at
            assert status == 200 and data["totals"]["interactions"] > 0
            # At most the lease TTL, then the waiter's own fetch (0.5 s per page, 9 pages).
            assert waited < LEASE_TTL_SECONDS + 6, waited
            with pytest.raises(aiohttp.ClientError):
                await first
    finally:
        holder.stop()
        waiter.stop()


async def test_failed_refresh_leaves_the_stale_answer_served(
    fleet_sim: Process, redis_url: str
) -> None:
    """Past the soft TTL with Voiceflow failing: every process keeps serving the stale answer."""
    fleet = start_fleet(
        fleet_sim,
        redis_url,
        2,
        CACHE_TTL_SECONDS="1",
        CACHE_OPEN_DAY_TTL_SECONDS="1",
        UPSTREAM_MAX_RETRIES="0",
    )
    today = datetime.now(UTC).date()
    payload = body(start=(today - timedelta(days=6)).isoformat(), end=today.isoformat())
    try:
        async with aiohttp.ClientSession() as session:
            status, cache, fresh = await post(session, fleet[0], payload)
            assert (status, cache) == (200, "MISS")
            sim_control(fleet_sim, "fail_next", {"n": 10_000, "status": 503})
            await asyncio.sleep(1.5)
            for proc in (*fleet, *fleet):
                status, cache, stale = await post(session, proc, payload)
                assert (status, cache) == (200, "STALE")
                assert stale["totals"] == fresh["totals"] and stale["meta"]["stale"] is True
                await asyncio.sleep(0.3)  # let the background refresh fail meanwhile
            assert sim_control(fleet_sim, "stats")["answered"].get("503", 0) > 0
    finally:
        for proc in fleet:
            proc.stop()


async def test_two_processes_share_one_upstream_budget(redis_url: str) -> None:
    """Two processes with a budget of N/s: the simulator (N/s, same burst) never says 429."""
    rate, burst = 20, 10
    sim = start_simulator(KEY, "--rate", str(rate), "--burst", str(burst + 2))
    fleet = start_fleet(
        sim,
        redis_url,
        2,
        UPSTREAM_RATE_PER_SECOND=str(rate),
        UPSTREAM_BURST=str(burst),
        UPSTREAM_MAX_WAIT_SECONDS="60",
        UPSTREAM_DEADLINE_SECONDS="60",
    )
    ranges = [body(start=f"2024-{m:02d}-01", end=f"2024-{m:02d}-28") for m in range(1, 7)]
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(
                *(post(session, fleet[i % 2], ranges[i % 6]) for i in range(24))
            )
        elapsed = time.monotonic() - started
        assert {status for status, _, _ in results} == {200}
        stats = sim_control(sim, "stats")
        assert stats["rate_limited"] == 0
        sent = stats["requests"]
        assert sent > 100
        assert sent <= rate * elapsed + burst + 2, (sent, elapsed)
    finally:
        for proc in fleet:
            proc.stop()
        sim.stop()


def acting_log(proc: Process) -> list[tuple[float, str]]:
    """(time, event) of the lines where a warmer took the lead or ran or finished a job."""
    out = []
    for line in proc.log.read_text().splitlines():
        found = re.match(r"(\S+ \S+) \S+ \S+: warmer \S+ (is now the leader|runs|finished)", line)
        if found:
            at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((at, found.group(2)))
    return out


def start_warmer(sim: Process, redis_url: str) -> Process:
    env = {
        "REDIS_URL": redis_url,
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "WARMER_LEASE_SECONDS": "3",
        "WARMER_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }
    return Process("warmer", [], env, free_port())


async def test_two_warmers_one_leader_and_takeover_after_sigkill(
    fleet_sim: Process, redis_url: str
) -> None:
    """Two warmer processes: one acts; SIGKILL it and the other acts within the lease TTL."""
    warmers = [start_warmer(fleet_sim, redis_url) for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        acting: list[Process] = []
        while time.monotonic() < deadline:
            acting = [w for w in warmers if any(e == "runs" for _, e in acting_log(w))]
            if acting:
                break
            await asyncio.sleep(0.2)
        assert len(acting) == 1, "exactly one warmer should act"
        leader = acting[0]
        other = next(w for w in warmers if w is not leader)
        await asyncio.sleep(2)
        assert not any(e == "runs" for _, e in acting_log(other))
        leader.kill()
        killed = time.time()
        took: list[float] = []
        while time.time() < killed + 10:
            took = [t for t, e in acting_log(other) if e == "runs" and t > killed]
            if took:
                break
            await asyncio.sleep(0.1)
        assert took, "the other warmer never took over"
        # Lease 3 s, checked every second, one job interval of 1 s.
        assert took[0] - killed <= 3 + 1 + 1 + 0.5, took[0] - killed
        last_of_leader = max(t for t, e in acting_log(leader) if e in ("runs", "finished"))
        assert min(t for t, e in acting_log(other) if e == "runs") > last_of_leader
    finally:
        for w in warmers:
            w.stop()
