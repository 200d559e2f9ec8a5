"""Cached overview latency while PDF exports render, and the event loop's longest stall.

Redis, the simulator, the service and this client share one process and one event loop, so
a probe task in that loop (sleep 10 ms, record the overshoot) sees every stall a render
could cause. Two runs of the same cached 30-day overview requests: (a) alone, (b) while 4
clients export 90-day PDFs back to back. Each export's cached file is deleted before it is
asked for again, so every export really renders (its data stays cached, as a dashboard's
would). Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import aiohttp

from bench.env import KEY, PROJECT, Redis, serve
from service.analytics.query import Query
from service.app import EXPORT_RENDERS, create_app
from service.config.settings import Settings
from service.http.appkeys import SOURCE, STORE
from service.store.keys import Keys
from tests.processes import start_simulator

REQUESTS = 5000
CONCURRENCY = 16
EXPORTERS = 4
EXPORT_DAYS = 90
PROBE_SECONDS = 0.010
LAG_BOUND_MS = 50.0
OVERVIEW = {"project_id": PROJECT, "start": "2025-05-01", "end": "2025-05-30"}


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds
    lags: list[float] = field(default_factory=list)  # seconds past each 10 ms sleep
    exports: list[float] = field(default_factory=list)
    busy: int = 0  # exports answered 503 (every renderer busy past the wait)


def export_body(i: int) -> dict[str, Any]:
    """Exporter i's own 90-day range, ending before the overview's month."""
    end = date(2025, 4, 30) - timedelta(days=7 * i)
    start = end - timedelta(days=EXPORT_DAYS - 1)
    return {"project_id": PROJECT, "start": start.isoformat(), "end": end.isoformat()}


async def probe(run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(PROBE_SECONDS)
        run.lags.append(time.perf_counter() - started - PROBE_SECONDS)


async def overviews(http: aiohttp.ClientSession, url: str, run: Run) -> None:
    left = iter(range(REQUESTS))

    async def worker() -> None:
        for _ in left:
            started = time.perf_counter()
            async with http.post(f"{url}/api/analytics/overview", json=OVERVIEW) as r:
                await r.read()
                assert r.headers["X-Cache"] == "HIT", r.headers["X-Cache"]
            run.latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def export(http: aiohttp.ClientSession, url: str, i: int) -> int:
    async with http.post(f"{url}/api/export", json={**export_body(i), "format": "pdf"}) as r:
        await r.read()
        return r.status


async def exporter(
    http: aiohttp.ClientSession, url: str, app: Any, i: int, run: Run, stop: asyncio.Event
) -> None:
    ask = export_body(i)
    query = Query(PROJECT, date.fromisoformat(ask["start"]), date.fromisoformat(ask["end"]))
    key = Keys(app[SOURCE]).export(query.canonical(), "pdf", "A4")
    while not stop.is_set():
        await app[STORE].delete(key)  # so this export renders again
        started = time.perf_counter()
        status = await export(http, url, i)
        if status == 503:
            run.busy += 1
            continue
        assert status == 200, status
        run.exports.append(time.perf_counter() - started)


async def measure(http: aiohttp.ClientSession, url: str, app: Any, exports: bool) -> Run:
    run, stop = Run(), asyncio.Event()
    background = [asyncio.create_task(probe(run, stop))]
    if exports:
        background += [
            asyncio.create_task(exporter(http, url, app, i, run, stop)) for i in range(EXPORTERS)
        ]
        await asyncio.sleep(0.5)  # let the renders get going first
    await overviews(http, url, run)
    stop.set()
    await asyncio.gather(*background)
    return run


async def bench() -> tuple[Run, Run]:
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The simulator runs in its own process: its cache of generated days would otherwise sit in
    # this heap, and the garbage collector's full passes over it would count as loop stalls.
    sim = start_simulator(KEY)
    try:
        return await _bench(sim.url)
    finally:
        sim.stop()


async def _bench(sim_url: str) -> tuple[Run, Run]:
    environ = {
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim_url,
        "UPSTREAM_RATE_PER_SECOND": "1000",  # warming 8 periods is not what is measured
        "UPSTREAM_BURST": "1000",
    }
    with Redis() as redis:
        app = create_app(Settings.from_env({**environ, "REDIS_URL": redis.url}))
        connector = aiohttp.TCPConnector(limit=CONCURRENCY + EXPORTERS)
        async with serve(app) as url, aiohttp.ClientSession(connector=connector) as http:
            async with http.post(f"{url}/api/analytics/overview", json=OVERVIEW) as r:
                assert r.status == 200, await r.text()
            for i in range(EXPORTERS):  # both periods of every exported range
                async with http.post(f"{url}/api/analytics/compare", json=export_body(i)) as r:
                    assert r.status == 200, await r.text()
            # Start the render workers, as a service that has exported before has them.
            await asyncio.gather(*(export(http, url, i) for i in range(EXPORTERS)))
            alone = await measure(http, url, app, exports=False)
            loaded = await measure(http, url, app, exports=True)
    return alone, loaded


def ms(seconds: float) -> str:
    return f"{1000 * seconds:8.2f}"


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    alone, loaded = asyncio.run(bench())
    print(
        f"{REQUESTS} cached 30-day overviews, {CONCURRENCY} at a time; service, Redis client "
        "and load generator in one process"
    )
    print(f"{'scenario':40} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'loop lag max':>13}")
    for name, run in (
        ("(a) alone", alone),
        (f"(b) while {EXPORTERS} 90-day PDF exports run", loaded),
    ):
        lat = run.latencies
        print(
            f"{name:40} {ms(statistics.median(lat))} {ms(p99(lat))} {ms(max(lat))} "
            f"{ms(max(run.lags))} ms"
        )
    done = loaded.exports
    print(
        f"exports during (b): {len(done)} rendered (at most {EXPORT_RENDERS} at a time), "
        f"p50 {ms(statistics.median(done)).strip()} ms, max {ms(max(done)).strip()} ms; "
        f"{loaded.busy} answered 503"
    )
    worst = 1000 * max(max(alone.lags), max(loaded.lags))
    verdict = "ok" if worst <= LAG_BOUND_MS else "OVER"
    print(f"longest event-loop stall: {worst:.1f} ms (bound {LAG_BOUND_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    main()
