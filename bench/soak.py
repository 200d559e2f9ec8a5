"""A soak over many projects and ranges: does the in-process store keep RSS flat?

The service runs embedded, as one process: no REDIS_URL (the in-process store, bounded by
CACHE_MEMORY_MAX_MB with least-recently-used eviction, and the embedded warmer) and no
VOICEFLOW_API_KEY (the bundled simulator, on the same loop). The bound is set to BOUND_MB,
small enough that the stored rows and answers pass it within the first minutes, and the
budget to RATE so that they do. For SOAK_SECONDS (default 600) CLIENTS loops each ask, one
after the other, an overview or a compare: a share POPULAR_SHARE of them among POPULAR fixed
questions (hits, kept recent), the rest each a question never asked before, of one of
PROJECTS projects over a range of its own (1-60 days ending up to 2 years back). A client
follows 503s (Retry-After) until its answer, so the work in flight stays CLIENTS asks.

The process's RSS (VmRSS) is sampled every SAMPLE_SECONDS, with what the store holds
(`vfac_memory_store_*` from /metrics: bytes as the bound reckons them, keys, evictions). The
bound being reached is also checked from outside: at the end the first NEW_CHECK new
questions, never asked since, are asked again: each answered HIT or STALE was still held,
each MISS was evicted.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.env import KEY
from bench.workload import project_id
from tests.processes import start_service, start_simulator

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
BOUND_MB = 32  # CACHE_MEMORY_MAX_MB
# UPSTREAM_RATE_PER_SECOND (SOAK_RATE): generous by default, so the bound is passed early
RATE = int(os.environ.get("SOAK_RATE", "100"))
CLIENTS = 6
POPULAR, POPULAR_SHARE = 40, 0.3
PROJECTS = 5000
SAMPLE_SECONDS = 5.0
PRINT_EVERY = 12  # samples per printed row: one a minute
NEW_CHECK = 40  # first new questions asked again at the end: evicted ones come back MISS
ZONES = ("UTC", "Europe/Helsinki", "America/New_York", "Asia/Tokyo", "Australia/Brisbane")


@dataclass
class Tally:
    asks: Counter[str] = field(default_factory=Counter)  # answered, by kind of question
    cache: Counter[str] = field(default_factory=Counter)  # X-Cache of the answers
    popular_hits: int = 0
    popular: int = 0
    retries: int = 0  # 503s followed (the re-asks at the end included)
    errors: Counter[int] = field(default_factory=Counter)
    first_new: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass
class Sample:
    t: float
    rss: float  # MiB
    answered: int
    hits: int
    store: float = 0.0  # MiB the in-process store holds, as its bound reckons them
    keys: int = 0
    evicted: int = 0


async def store_usage(http: aiohttp.ClientSession, url: str) -> tuple[float, int, int]:
    """(MiB held, keys, evictions so far) of the service's in-process store, from /metrics."""
    found: dict[str, float] = {}
    async with http.get(f"{url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("vfac_memory_store_"):
                name, value = line.split()
                found[name] = float(value)
    return (
        found["vfac_memory_store_bytes"] / 2**20,
        int(found["vfac_memory_store_keys"]),
        int(found["vfac_memory_store_evictions_total"]),
    )


def question(rng: random.Random, today: datetime) -> tuple[str, dict[str, str]]:
    days = rng.choice((1, 7, 14, 30, 60))
    end = today.date() - timedelta(days=rng.randrange(0, 730))
    body = {
        "project_id": project_id(rng.randrange(PROJECTS)),
        "start": f"{end - timedelta(days=days - 1)}",
        "end": f"{end}",
        "tz": rng.choice(ZONES),
    }
    return rng.choice(("overview", "overview", "compare")), body


async def ask(
    http: aiohttp.ClientSession, url: str, kind: str, body: dict[str, str], t: Tally
) -> str:
    """The X-Cache of the answer, following 503s; "error <status>" for another status."""
    while True:
        async with http.post(f"{url}/api/analytics/{kind}", json=body) as resp:
            await resp.read()
            if resp.status == 200:
                return resp.headers.get("X-Cache", "")
            if resp.status != 503:
                return f"error {resp.status}"
            t.retries += 1
            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))


async def client(http: aiohttp.ClientSession, url: str, n: int, stop: float, t: Tally) -> None:
    rng = random.Random(n)
    today = datetime.now(UTC)
    popular = [question(random.Random(1000 + i), today) for i in range(POPULAR)]
    while time.monotonic() < stop:
        hot = rng.random() < POPULAR_SHARE
        kind, body = rng.choice(popular) if hot else question(rng, today)
        if not hot and len(t.first_new) < NEW_CHECK:
            t.first_new.append((kind, body))
        cache = await ask(http, url, kind, body, t)
        if cache.startswith("error"):
            t.errors[int(cache.split()[1])] += 1
            continue
        t.asks["popular" if hot else "new"] += 1
        t.cache[cache] += 1
        t.popular += hot
        t.popular_hits += hot and cache in ("HIT", "STALE")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def sample(
    http: aiohttp.ClientSession,
    url: str,
    pid: int,
    started: float,
    stop: float,
    t: Tally,
    out: list[Sample],
) -> None:
    print(
        f"{'min':>4} {'RSS MiB':>8} {'answered':>9} {'hit ratio':>10} {'store MiB':>10} "
        f"{'keys':>7} {'evicted':>8}",
        flush=True,
    )
    for n in itertools.count(1):
        await asyncio.sleep(max(0.0, started + n * SAMPLE_SECONDS - time.monotonic()))
        hits = t.cache["HIT"] + t.cache["STALE"]
        held = await store_usage(http, url)
        out.append(Sample(n * SAMPLE_SECONDS, rss_mib(pid), t.cache.total(), hits, *held))
        if n % PRINT_EVERY == 0:
            s = out[-1]
            ratio = s.hits / max(1, s.answered)
            print(
                f"{s.t / 60:4.0f} {s.rss:8.1f} {s.answered:9} {ratio:10.1%} {s.store:10.1f} "
                f"{s.keys:7} {s.evicted:8}",
                flush=True,
            )
        if time.monotonic() >= stop:
            return


def slope(samples: list[Sample]) -> float:
    """Least-squares slope of RSS over time, MiB per minute."""
    if len(samples) < 2:
        return 0.0
    fit = statistics.linear_regression([s.t / 60 for s in samples], [s.rss for s in samples])
    return fit.slope


async def soak(url: str, pid: int) -> tuple[Tally, list[Sample], Counter[str]]:
    t, samples = Tally(), [Sample(0.0, rss_mib(pid), 0, 0)]
    started = time.monotonic()
    stop = started + SECONDS
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(
            sample(http, url, pid, started, stop, t, samples),
            *(client(http, url, n, stop, t) for n in range(CLIENTS)),
        )
        again = await asyncio.gather(*(ask(http, url, k, b, t) for k, b in t.first_new))
    return t, samples, Counter(again)


def report(t: Tally, samples: list[Sample], again: Counter[str]) -> None:
    at_minute = next((s for s in samples if s.t >= 60), samples[-1])
    second_half = [s for s in samples if s.t >= SECONDS / 2]
    answered = t.cache.total()
    hits = t.cache["HIT"] + t.cache["STALE"]
    print(
        f"RSS: {samples[0].rss:.1f} MiB at start, {at_minute.rss:.1f} at 1 min, "
        f"{samples[-1].rss:.1f} at the end ({samples[-1].t / 60:.1f} min), max "
        f"{max(s.rss for s in samples):.1f}; slope over the second half "
        f"{slope(second_half):+.2f} MiB/min (whole run after 1 min "
        f"{slope([s for s in samples if s.t >= 60]):+.2f})"
    )
    print(
        f"answered {answered} asks ({dict(t.asks)}; X-Cache {dict(t.cache)}), "
        f"{answered / SECONDS:.1f}/s; hit ratio {hits / max(1, answered):.1%} "
        f"(popular questions {t.popular_hits / max(1, t.popular):.1%}); "
        f"503s followed {t.retries}; errors {dict(t.errors)}"
    )
    held = again["HIT"] + again["STALE"]
    last = samples[-1]
    print(
        f"store: {max(s.store for s in samples):.1f} MiB at most of the {BOUND_MB} MiB bound, "
        f"{last.store:.1f} at the end ({last.keys} keys); {last.evicted} keys evicted"
    )
    print(
        f"bound {BOUND_MB} MiB: of the first "
        f"{len(t.first_new)} new questions asked again at the end, {held} still held, "
        f"{again['MISS']} evicted (MISS) -> bound "
        + ("reached" if again["MISS"] else "not shown reached")
    )


def main() -> None:
    env = {
        "CACHE_MEMORY_MAX_MB": str(BOUND_MB),
        "UPSTREAM_RATE_PER_SECOND": str(RATE),
        "UPSTREAM_BURST": str(RATE // 2),
        "LOG_LEVEL": "ERROR",
    }
    # SOAK_SIMULATOR=process: the simulator in a process of its own, as Voiceflow would be,
    # so the service's RSS holds none of the simulator's own caches (demo mode's ~75 MiB).
    sim = start_simulator(KEY) if os.environ.get("SOAK_SIMULATOR") == "process" else None
    if sim is not None:
        env |= {"VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url}
    upstream = "a simulator process" if sim else "bundled simulator"
    print(
        f"embedded service (in-process store, {upstream}), CACHE_MEMORY_MAX_MB="
        f"{BOUND_MB}, UPSTREAM_RATE_PER_SECOND={RATE}; {CLIENTS} clients for {SECONDS:.0f} s, "
        f"{POPULAR_SHARE:.0%} of asks among {POPULAR} popular questions, the rest new "
        f"(over {PROJECTS} projects); RSS sampled every {SAMPLE_SECONDS:.0f} s"
    )
    service = start_service(env)
    try:
        report(*asyncio.run(soak(service.url, service.proc.pid)))
    finally:
        service.stop()
        if sim is not None:
            sim.stop()


if __name__ == "__main__":
    main()
