"""Does the warmer keep popular answers fresh? Web + warmer + simulator, with and without it.

A short soft TTL (10 s) and a workload that keeps revisiting 50 popular answers (a few
projects, preset and past ranges, several zones) for WARMER_BENCH_SECONDS (default 110, at
least 10 soft TTLs). Counted after each answer's first visit: the share served as a fresh
HIT (not STALE, not MISS). Beside it, the same run with the warmer off. The warmer's own
upstream requests are read from its reports, against its per-run allowance.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from bench.env import KEY
from bench.workload import project_id
from tests.processes import Process, sim_control, start_service, start_simulator
from tests.redis_server import RedisServer, free_port

SECONDS = float(os.environ.get("WARMER_BENCH_SECONDS", "110"))
TTL = 10
ADMIN = "bench-admin-token-0123456789"
RATE = 30  # UPSTREAM_RATE_PER_SECOND of web and warmer alike
WARMER_ENV = {
    "UPSTREAM_RATE_PER_SECOND": str(RATE),
    "UPSTREAM_BURST": str(2 * RATE),
    "WARMER_INTERVAL_SECONDS": "2",
    "WARMER_MARGIN_SECONDS": "4",
    "WARMER_TOP_K": "60",
    "WARMER_BUDGET_SHARE": "0.3",
}


def questions() -> list[dict[str, Any]]:
    """50 popular answers: 5 projects x (4 presets, 4 past months, 2 zones of last 7 days)."""
    today = datetime.now(UTC).date()
    out = []
    for i in range(5):
        pid, tz = project_id(i), ("UTC", "Europe/Helsinki", "America/New_York")[i % 3]
        ranges = [(today - timedelta(days=n - 1), today) for n in (7, 30, 90)]
        ranges.append((today.replace(day=1), today))
        ranges += [
            (datetime(2025, m, 1).date(), datetime(2025, m, 28).date()) for m in (3, 4, 5, 6)
        ]
        for start, end in ranges:
            out.append(
                {"project_id": pid, "start": start.isoformat(), "end": end.isoformat(), "tz": tz}
            )
        for zone in ("Asia/Tokyo", "America/Los_Angeles"):
            out.append(
                {
                    "project_id": pid,
                    "start": (today - timedelta(days=6)).isoformat(),
                    "end": today.isoformat(),
                    "tz": zone,
                }
            )
    return out


async def visit(url: str, asks: list[dict[str, Any]]) -> Counter[str]:
    """Revisit the answers at random, 20 requests a second; tally X-Cache after first visits."""
    rng = random.Random(3)
    seen: set[int] = set()
    tally: Counter[str] = Counter()
    async with aiohttp.ClientSession() as session:
        for i in range(len(asks)):  # first visits, counted apart
            async with session.post(f"{url}/api/analytics/overview", json=asks[i]) as r:
                await r.read()
            seen.add(i)
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            i = rng.randrange(len(asks))
            async with session.post(f"{url}/api/analytics/overview", json=asks[i]) as r:
                await r.read()
                tally[r.headers.get("X-Cache", str(r.status))] += 1
            await asyncio.sleep(0.05)
    return tally


def warmer_reports(url: str) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        f"{url}/api/warmer/status", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        status = orjson.loads(resp.read())
    return [job["last_run"] for job in status["jobs"] if job["last_run"]]


def run_one(redis: RedisServer, with_warmer: bool) -> dict[str, Any]:
    redis.flush()
    sim = start_simulator(KEY)
    env = {
        "REDIS_URL": redis.url,
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "CACHE_TTL_SECONDS": str(TTL),
        "LOG_LEVEL": "WARNING",
        "ADMIN_TOKEN": ADMIN,
        **WARMER_ENV,
    }
    web = start_service(env)
    warmer = Process("warmer", [], env, free_port()) if with_warmer else None
    try:
        tally = asyncio.run(visit(web.url, questions()))
        stats = sim_control(sim, "stats")
        reports = warmer_reports(web.url) if warmer else []
        history = _history(redis) if warmer else []
        return {
            "tally": tally,
            "upstream": stats["requests"],
            "reports": reports,
            "history": history,
        }
    finally:
        if warmer:
            warmer.stop()
        web.stop()
        sim.stop()


def _history(redis: RedisServer) -> list[dict[str, Any]]:
    import redis as sync_redis

    r = sync_redis.Redis.from_url(redis.url)
    raw = next((r.get(k) for k in r.scan_iter(match="*:warmer:status")), None)
    r.close()
    return [] if raw is None else list(orjson.loads(raw).get("history", []))


def main() -> None:
    print(
        f"50 popular answers revisited for {SECONDS:.0f} s ({SECONDS / TTL:.0f} soft TTLs "
        f"of {TTL} s); warmer every {WARMER_ENV['WARMER_INTERVAL_SECONDS']} s, margin "
        f"{WARMER_ENV['WARMER_MARGIN_SECONDS']} s, budget share "
        f"{WARMER_ENV['WARMER_BUDGET_SHARE']} of {RATE} req/s"
    )
    redis = RedisServer().start()
    try:
        results = {"warmer on": run_one(redis, True), "warmer off": run_one(redis, False)}
    finally:
        redis.close()
    print(f"{'':12} {'visits':>7} {'fresh HIT':>10} {'STALE':>7} {'MISS':>6} {'upstream':>9}")
    for name, r in results.items():
        t = r["tally"]
        total = sum(t.values())
        print(
            f"{name:12} {total:7} {t['HIT'] / total:10.2%} {t['STALE']:7} {t['MISS']:6} "
            f"{r['upstream']:9}"
        )
    history = results["warmer on"]["history"]
    over = [h for h in history if h["upstream"] > h["allowance"]]
    spent = sum(h["upstream"] for h in history)
    allowed = sum(h["allowance"] for h in history)
    print(
        f"warmer runs (last {len(history)} kept): {spent} upstream requests against an "
        f"allowance of {allowed:.0f}; runs over their allowance: {len(over)}"
    )


if __name__ == "__main__":
    main()
