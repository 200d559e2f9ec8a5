"""A dashboard workload against a rate-limited Voiceflow: this service vs the seed guide's cache.

For WORKLOAD_SECONDS (default 120) each system gets the same seeded stream of overview
requests: Zipf-popular projects, each with its own time zone, asking for the preset ranges
(last 7 / 30 / 90 days, month to date) and, 5% of the time, a custom range within the past
year. The simulator answers with a per-key budget well below what the baseline needs; this
service is configured with the same budget (UPSTREAM_RATE_PER_SECOND / UPSTREAM_BURST).
Counted: upstream requests, 429s received, client errors, answers served without waiting on
upstream (X-Cache HIT or STALE), and that share for preset ranges asked after their first
ask was answered (a repeat that arrives while the first is still being fetched waits for it).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp

from bench.env import KEY
from bench.hitpath import _wait_port
from tests.processes import Process, sim_control, start_service, start_simulator
from tests.redis_server import RedisServer, free_port

SECONDS = float(os.environ.get("WORKLOAD_SECONDS", "120"))
RATE = 10.0  # dashboard requests per second
PROJECTS = 8
ZIPF_S = 1.2
BUDGET_RATE, BUDGET_BURST = 40, 80  # the simulator's per-key budget
MAX_WAIT = 20  # UPSTREAM_MAX_WAIT_SECONDS: a cold 90-day project needs ~80 requests
ZONES = (
    "UTC",
    "Europe/Helsinki",
    "America/New_York",
    "Asia/Tokyo",
    "Europe/London",
    "America/Los_Angeles",
)
PRESETS = ("last_7", "last_30", "last_90", "month_to_date")


@dataclass(frozen=True)
class Ask:
    at: float
    project: str
    tz: str
    kind: str
    start: date
    end: date


def project_id(i: int) -> str:
    return hashlib.blake2b(f"project-{i}".encode(), digest_size=12).hexdigest()


def preset(kind: str, today: date) -> tuple[date, date]:
    if kind == "month_to_date":
        return today.replace(day=1), today
    days = int(kind.split("_")[1])
    return today - timedelta(days=days - 1), today


def stream(seed: int = 7) -> list[Ask]:
    """The seeded request stream: Poisson arrivals, Zipf projects, 5% custom ranges."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) ** ZIPF_S for i in range(PROJECTS)]
    asks: list[Ask] = []
    t = 0.0
    while True:
        t += rng.expovariate(RATE)
        if t >= SECONDS:
            return asks
        i = rng.choices(range(PROJECTS), weights)[0]
        tz = ZONES[i % len(ZONES)]
        today = datetime.now(UTC).date()
        if rng.random() < 0.05:
            start = today - timedelta(days=rng.randrange(14, 180))
            end = min(today, start + timedelta(days=rng.randrange(1, 45)))
            asks.append(Ask(t, project_id(i), tz, "custom", start, end))
        else:
            kind = rng.choices(PRESETS, (4, 3, 1, 2))[0]
            asks.append(Ask(t, project_id(i), tz, kind, *preset(kind, today)))


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    no_wait: int = 0
    preset_repeat: int = 0
    preset_repeat_no_wait: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


async def drive(url: str, asks: list[Ask]) -> Tally:
    tally = Tally()
    answered: set[tuple[str, str, str]] = set()  # presets whose first ask has been answered
    started = time.monotonic()

    async def one(session: aiohttp.ClientSession, ask: Ask) -> None:
        await asyncio.sleep(max(0.0, ask.at - (time.monotonic() - started)))
        key = (ask.project, ask.tz, ask.kind)
        repeat = ask.kind != "custom" and key in answered
        body = {
            "project_id": ask.project,
            "start": ask.start.isoformat(),
            "end": ask.end.isoformat(),
            "tz": ask.tz,
        }
        t0 = time.monotonic()
        try:
            async with session.post(
                f"{url}/api/analytics/overview", json=body, timeout=aiohttp.ClientTimeout(total=60)
            ) as resp:
                raw = await resp.read()
                status, cache = resp.status, resp.headers.get("X-Cache", "")
                if status != 200:
                    tally.errors[raw[:120].decode(errors="replace")] += 1
        except (aiohttp.ClientError, TimeoutError):
            status, cache = 599, ""
        tally.latencies.append(time.monotonic() - t0)
        tally.statuses[status] += 1
        if status == 200:
            answered.add(key)
        served = status == 200 and cache in ("HIT", "STALE")
        tally.no_wait += served
        if repeat:
            tally.preset_repeat += 1
            tally.preset_repeat_no_wait += served

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, ask) for ask in asks))
    return tally


def summary(tally: Tally, sim: Process) -> dict[str, Any]:
    stats = sim_control(sim, "stats")
    lat = sorted(tally.latencies)
    total = sum(tally.statuses.values())
    return {
        "requests": total,
        "upstream": stats["requests"],
        "429s": stats["rate_limited"],
        "client errors": total - tally.statuses[200],
        "statuses": dict(tally.statuses),
        "errors": tally.errors.most_common(3),
        "no wait": tally.no_wait / total,
        "preset repeats no wait": tally.preset_repeat_no_wait / max(1, tally.preset_repeat),
        "p50 ms": lat[len(lat) // 2] * 1000,
        "p99 ms": lat[int(len(lat) * 0.99)] * 1000,
    }


async def run_system(name: str, redis: RedisServer, asks: list[Ask]) -> dict[str, Any]:
    sim = start_simulator(KEY, "--rate", str(BUDGET_RATE), "--burst", str(BUDGET_BURST))
    redis.flush()
    try:
        if name == "ours":
            proc = start_service(
                {
                    "REDIS_URL": redis.url,
                    "VOICEFLOW_API_KEY": KEY,
                    "VOICEFLOW_ANALYTICS_URL": sim.url,
                    "LOG_LEVEL": "ERROR",
                    "UPSTREAM_RATE_PER_SECOND": str(BUDGET_RATE),
                    "UPSTREAM_BURST": str(BUDGET_BURST - 4),
                }
            )
        else:
            port = free_port()
            proc = Process(
                "bench.baseline_app",
                ["--port", str(port), "--redis", redis.url, "--upstream", sim.url, "--key", KEY],
                {},
                port,
            )
            _wait_port(proc)
        try:
            tally = await drive(proc.url, asks)
        finally:
            if name != "ours":
                proc.kill()  # requests may still sit in Retry-After waits: no grace needed
            proc.stop()
        return summary(tally, sim)
    finally:
        sim.stop()


def main() -> None:
    asks = stream()
    print(
        f"{len(asks)} requests over {SECONDS:.0f} s, {PROJECTS} Zipf projects, simulator "
        f"budget {BUDGET_RATE}/s (burst {BUDGET_BURST}) per key"
    )
    redis = RedisServer().start()
    try:
        results = {
            name: asyncio.run(run_system(name, redis, asks)) for name in ("ours", "baseline")
        }
    finally:
        redis.close()
    print(f"{'':24} {'ours':>10} {'baseline':>10}")
    print("statuses:", {n: r.pop("statuses") for n, r in results.items()})
    print("errors:", {n: r.pop("errors") for n, r in results.items()})
    for metric in results["ours"]:
        ours, base = results["ours"][metric], results["baseline"][metric]
        spec = "10.1%" if "wait" in metric else "10.0f"
        print(f"{metric:24} {ours:{spec}} {base:{spec}}")
    ratio = results["baseline"]["upstream"] / max(1, results["ours"]["upstream"])
    print(f"upstream requests: baseline / ours = {ratio:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
