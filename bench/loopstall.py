"""No request holds the service's event loop for more than 10 ms, whatever its zone and dates.

The service runs as a process on a Redis (the web process alone, as deployed: no embedded
warmer) against the simulator as another process, so neither the data generation nor the
clients share its loop. It has no loop-lag metric, so the loop is watched from outside: a
probe in a process of its own GETs /health every PROBE_MS on one kept-alive connection, and
a stall shows as a probe answered late: the longest stall ~ the slowest probe minus the
median one; the full garbage collections (generation 2) it ran are read from /metrics. Each
phase runs LOOPSTALL_SECONDS (default 20) on a fresh service (so its zone cache is cold) while
HAMMER loops ask HOT cached overviews, HAMMER_RATE a second in all:
- A: the cached overviews alone;
- B: and, ROTATE a second, an overview of a (zone, year) pair never asked before: zones from
  zoneinfo (those with a :30 or :45 offset get their 400 after the check), years 2000-2099,
  1-2 day ranges, a third of them across New Year; cold for the cache, so each costs
  upstream fetches too (at the tight budget most end in 503s: the fetch goes on);
- B': the same pairs asked with an environment_id the service refuses once the zone check is
  done: the zone path alone, nothing fetched.
Then the zone check itself, timed in this process on MICRO_PAIRS cold pairs.
Tight: the simulator allows 10 requests a second and the service runs at its defaults;
generous: no simulator limit, UPSTREAM_RATE_PER_SECOND=200.
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing
import os
import random
import statistics
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection

import aiohttp

from bench.dashboard_load import TIGHT
from bench.env import KEY, Redis
from bench.workload import project_id
from service.analytics import timezones
from tests.processes import start_service, start_simulator
from tests.redis_server import RedisServer

SECONDS = float(os.environ.get("LOOPSTALL_SECONDS", "20"))
PROBE_MS = 5.0  # one probe every 5 ms: a stall of 10 ms is seen by at least one
HAMMER = 4  # concurrent loops asking cached overviews...
HAMMER_RATE = 1000.0  # ...this many a second in all: the 2 cores are not saturated, so the
# service is seldom descheduled (which the probe could not tell from a stall)
HOT = 4  # the cached overviews they ask
ROTATE = 20.0  # asks a second of new (zone, year) pairs in phases B and B'
GENEROUS_RATE = 200.0
MICRO_PAIRS = 200
TARGET_MS = 10.0
REFUSED_ENV = "not a valid id!"  # fails validation after the zone check: nothing is fetched
ZONES = sorted(zoneinfo.available_timezones())


def probe(url: str, seconds: float, out: Connection) -> None:
    """Runs in a process of its own: GET /health every PROBE_MS; sends the latencies (ms)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/health")
    conn.getresponse().read()
    out.send(None)  # connected: the load may start
    latencies: list[float] = []
    start = time.perf_counter()
    tick = start
    while tick - start < seconds:
        sent = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        latencies.append((time.perf_counter() - sent) * 1000)
        tick = max(tick + PROBE_MS / 1000, time.perf_counter())
        time.sleep(max(0.0, tick - time.perf_counter()))
    conn.close()
    out.send(latencies)
    out.close()


@dataclass
class Phase:
    name: str
    hammer: Counter[int] = field(default_factory=Counter)  # statuses of the cached asks
    rotated: Counter[int] = field(default_factory=Counter)  # of the (zone, year) asks
    unanswered: int = 0  # rotating asks still waiting when the phase ended
    pairs: set[tuple[str, int]] = field(default_factory=set)  # (zone, year) the checks covered
    probes: list[float] = field(default_factory=list)
    gen2: int = 0  # full garbage collections in the service during the phase (/metrics)

    @property
    def stall(self) -> float:
        return max(self.probes) - statistics.median(self.probes)

    @property
    def stalls_over(self) -> int:
        """Probes answered more than TARGET_MS later than the median."""
        median = statistics.median(self.probes)
        return sum(x - median > TARGET_MS for x in self.probes)


def pair_asks(seed: int, refused: bool, pairs: set[tuple[str, int]]) -> Iterator[dict[str, str]]:
    """Overview bodies, each with a (zone, year) pair not asked before; the pairs its zone
    check covers (the years its rough UTC window spans) are added to `pairs`."""
    rng = random.Random(seed)
    fresh = [(z, y) for z in ZONES for y in range(2000, 2100)]
    rng.shuffle(fresh)
    for tz, year in fresh:
        if (tz, year) in pairs:
            continue
        if year < 2099 and rng.random() < 1 / 3:  # across New Year: Dec 31 .. Jan 1
            start, end = date(year, 12, 31), date(year + 1, 1, 1)
        else:
            start = date(year, 1, 1) + timedelta(days=rng.randrange(1, 363))
            end = start + timedelta(days=rng.randrange(2))
        lo, hi = timezones._rough_window(start, end)
        pairs.update((tz, y) for y in range(lo.year, hi.year + 1))
        body = {"project_id": project_id(9000), "start": f"{start}", "end": f"{end}", "tz": tz}
        yield body | ({"environment_id": REFUSED_ENV} if refused else {})


def hot_bodies() -> list[dict[str, str]]:
    """HOT past weeks of their own projects (closed days: they stay cached)."""
    end = datetime.now(UTC).date() - timedelta(days=30)
    start = f"{end - timedelta(days=6)}"
    return [{"project_id": project_id(i), "start": start, "end": f"{end}"} for i in range(HOT)]


async def ask(http: aiohttp.ClientSession, url: str, body: dict[str, str]) -> int:
    async with http.post(f"{url}/api/analytics/overview", json=body) as resp:
        await resp.read()
        return resp.status


async def warm(http: aiohttp.ClientSession, url: str) -> None:
    for body in hot_bodies():
        while (status := await ask(http, url, body)) != 200:
            if status != 503:
                raise RuntimeError(f"{status} warming {body}")
            await asyncio.sleep(1)


async def drive(url: str, phase: Phase, rotate: Iterator[dict[str, str]] | None) -> None:
    """The hammer loops (and the rotating asks, when given) until SECONDS have passed."""
    stop = time.monotonic() + SECONDS
    bodies = hot_bodies()

    async def hammer(http: aiohttp.ClientSession, n: int) -> None:
        every, due = HAMMER / HAMMER_RATE, time.monotonic()
        while (now := time.monotonic()) < stop:
            await asyncio.sleep(max(0.0, due - now))
            due = max(due + every, now - 1)  # catch up after a slow answer, at most a second
            phase.hammer[await ask(http, url, bodies[n % HOT])] += 1
            n += 1

    async def rotated(http: aiohttp.ClientSession, body: dict[str, str]) -> None:
        try:
            phase.rotated[await ask(http, url, body)] += 1
        except (aiohttp.ClientError, TimeoutError):
            phase.rotated[599] += 1

    async def rotating(http: aiohttp.ClientSession) -> None:
        pending: set[asyncio.Task[None]] = set()
        sent = 0
        while (now := time.monotonic()) < stop and rotate is not None:
            task = asyncio.create_task(rotated(http, next(rotate)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0.0, stop - SECONDS + sent / ROTATE - now))
        phase.unanswered = len(pending)
        for task in list(pending):
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(hammer(http, n) for n in range(HAMMER)), rotating(http))


def run_phase(redis: RedisServer, env: dict[str, str], phase: Phase, rotate: bool) -> Phase:
    redis.flush()
    service = start_service({**env, "REDIS_URL": redis.url})
    try:
        asyncio.run(_warmed(service.url))
        asks = pair_asks(7, phase.name == "B'", phase.pairs) if rotate else None
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe(duplex=False)
        prober = ctx.Process(target=probe, args=(service.url, SECONDS, theirs))
        prober.start()
        mine.recv()
        before = asyncio.run(gen2_collections(service.url))
        asyncio.run(drive(service.url, phase, asks))
        phase.probes = mine.recv()
        phase.gen2 = asyncio.run(gen2_collections(service.url)) - before
        prober.join(10)
    finally:
        service.stop()
    return phase


async def _warmed(url: str) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        await warm(http, url)


async def gen2_collections(url: str) -> int:
    """The service's full (generation 2) garbage collections so far, from /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith('python_gc_collections_total{generation="2"}'):
                return int(float(line.split()[-1]))
    raise RuntimeError("no python_gc_collections_total in /metrics")


def one_setting(redis: RedisServer, tight: bool) -> None:
    sim = start_simulator(KEY, *(TIGHT if tight else ()))
    env = {"VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url, "LOG_LEVEL": "ERROR"}
    if not tight:
        env["UPSTREAM_RATE_PER_SECOND"] = f"{GENEROUS_RATE:g}"
    try:
        phases = [
            run_phase(redis, env, Phase("A"), rotate=False),
            run_phase(redis, env, Phase("B"), rotate=True),
            run_phase(redis, env, Phase("B'"), rotate=True),
        ]
    finally:
        sim.stop()
    report(
        "tight (simulator 10 req/s, service defaults)" if tight else "generous (200 req/s)", phases
    )


def report(label: str, phases: list[Phase]) -> None:
    print(
        f"{label}: {SECONDS:.0f} s a phase; {HAMMER} loops ask {HOT} cached overviews, "
        f"{HAMMER_RATE:g}/s in all"
    )
    for p in phases:
        ordered = sorted(p.probes)
        p99 = ordered[int(len(ordered) * 0.99)]
        print(
            f"  {p.name:>2}: {sum(p.hammer.values()):6} cached asks ({p.hammer[200]} 200s); "
            f"{len(p.probes)} probes p50 {statistics.median(ordered):5.2f} p99 {p99:6.2f} "
            f"max {ordered[-1]:6.2f} ms; longest stall {p.stall:6.2f} ms, "
            f"{p.stalls_over} over {TARGET_MS:g} ms"
        )
        median = statistics.median(ordered)
        print(
            f"      3 longest stalls {', '.join(f'{x - median:.1f}' for x in ordered[:-4:-1])} ms;"
            f" {p.gen2} full GCs (generation 2) in the service during the phase"
        )
        if p.pairs:
            print(
                f"      {sum(p.rotated.values()) + p.unanswered} zone/year asks covering "
                f"{len(p.pairs)} distinct (zone, year) pairs: statuses "
                f"{sorted(p.rotated.items())}, {p.unanswered} unanswered at the end"
            )
    base = max(phases[0].stall, 0.01)
    verdicts = (
        f"{p.name}/A stall {p.stall / base:4.1f}x ({'within' if p.stall <= TARGET_MS else 'OVER'}"
        f" {TARGET_MS:g} ms)"
        for p in phases[1:]
    )
    print("  " + "; ".join(verdicts))


def micro() -> None:
    """The zone check on MICRO_PAIRS cold (zone, year) pairs, in this process."""
    rng = random.Random(11)
    timezones._segments.cache_clear()
    timezones.zone.cache_clear()
    zoneinfo.ZoneInfo.clear_cache()
    taken: list[float] = []
    for tz, year in rng.sample([(z, y) for z in ZONES for y in range(2000, 2100)], MICRO_PAIRS):
        day = date(year, 6, 15)  # mid-year: the check covers this one year
        started = time.perf_counter()
        timezones.non_whole_hour_offset(tz, day, day)
        taken.append((time.perf_counter() - started) * 1000)
    print(
        f"zone check in-process, {MICRO_PAIRS} cold (zone, year) pairs (caches cleared): "
        f"max {max(taken):.3f} ms, mean {statistics.fmean(taken):.3f} ms per pair"
    )


def main() -> None:
    micro()
    with Redis() as redis:
        for tight in (True, False):
            one_setting(redis, tight)


if __name__ == "__main__":
    main()
