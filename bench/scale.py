"""Upstream cost of one cold workload over fleets of 1, 2 and 4 web processes; sizing figures.

One Redis, one simulator; for N in SIZES (1, 2, 4, then 1 again, to show how much a run varies
by itself): Redis flushed, the simulator's counters reset, then N web processes and 2 warmer
processes (`python -m warmer run`, default schedule) on it.
The same cold workload each time: questions() (6 projects, each in its own whole-hour zone, x
the presets last 7 / 30 / 90 days and month to date of the project's local today x overview,
compare), all asked at once by one client each; a client's k-th try goes to the next web
process in turn (client i starts at process i mod N), and a 503 is followed after its
Retry-After, until its 200. Once every question has its 200 ("filled"), the simulator's
counters (everything it saw: web processes and warmers alike, 429s included) and every
process's `vfac_upstream_requests` (`/metrics`: who sent what) are read, and the processes
stopped. The fleet's single flight and one budget should make the count the same whatever
N: the target is each N within 2% of N = 1. Where the requests went is read from the
simulator's log (bench/scale_report.py): windows of past days, of open days only (today's
renewals), further pages, top_intents; (metric, day)s fetched twice; the budget's use in
10 s spells; the acting warmer's runs (its reports); Redis's commands and CPU meanwhile.

Run at the tight budget (simulator 10 req/s, burst 10; the service's defaults) and at a
generous one (simulator unlimited, UPSTREAM_RATE_PER_SECOND=200). Then the sizing figures
(bench/scale_sizing.py). Simulator logs are kept in LOGS.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import redis

from bench import scale_sizing
from bench.dashboard import warmer_history
from bench.dashboard_load import KINDS, PRESETS, RATE, TIGHT, ZONES
from bench.env import KEY, Redis
from bench.scale_report import UPSTREAM, Fill, Run, report
from bench.scale_sizing import metric_totals, redis_commands, redis_cpu
from bench.workload import project_id
from service.analytics.timezones import zone
from tests.processes import Process, sim_control, start_service, start_simulator
from tests.redis_server import RedisServer, free_port
from warmer.jobs import preset_range

SIZES = (1, 2, 4, 1)  # N = 1 again last: how much a run varies by itself
PROJECTS = 6  # project i in ZONES[i]: UTC, Helsinki, New York, Tokyo, Berlin, Los Angeles
WARMERS = 2
FILL_LIMIT = 300.0  # seconds: a fill slower than this is reported as not done
GENEROUS = {"UPSTREAM_RATE_PER_SECOND": "200"}
LOGS = Path("/tmp/vfac-bench-scale")

Question = tuple[str, dict[str, str]]  # kind, body


def questions() -> list[Question]:
    """The cold workload: 6 projects x 4 presets x (overview, compare) = 48 questions."""
    out = []
    for i, preset, kind in itertools.product(range(PROJECTS), PRESETS, KINDS):
        tz = ZONES[i]
        start, end = preset_range(preset, datetime.now(zone(tz)).date())
        body = {"project_id": project_id(i), "start": str(start), "end": str(end), "tz": tz}
        out.append((kind, body))
    return out


async def ask_all(urls: list[str], asks: list[Question]) -> Fill:
    """Each question asked by a client of its own, all at once, following 503s to a 200."""
    fill, started = Fill(began=time.time()), time.monotonic()
    timeout = aiohttp.ClientTimeout(total=60)

    async def client(i: int, kind: str, body: dict[str, str], http: aiohttp.ClientSession) -> bool:
        for turn in itertools.count(i):
            if time.monotonic() - started > FILL_LIMIT:
                return False
            url = f"{urls[turn % len(urls)]}/api/analytics/{kind}"
            try:
                async with http.post(url, json=body) as resp:
                    await resp.read()
                    status, retry = resp.status, resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError):
                status, retry = 599, None
            fill.tries[status] += 1
            if status == 200:
                return True
            await asyncio.sleep(float(retry or 1))
        return False

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        done = await asyncio.gather(*(client(i, k, b, http) for i, (k, b) in enumerate(asks)))
    fill.seconds = time.monotonic() - started
    fill.unanswered = done.count(False)
    return fill


def run_fleet(
    sim: Process, redis_url: str, n: int, budget: dict[str, str], tag: str, again: bool = False
) -> Run:
    RedisServer.flush_url(redis_url)
    sim_control(sim, "reset")
    env = {"REDIS_URL": redis_url, "VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url}
    env |= {"LOG_LEVEL": "WARNING", "WARMER_EMBEDDED": "false", **budget}
    procs: list[Process] = []
    try:
        webs = [start_service(env) for _ in range(n)]
        procs += webs
        warmers = [Process("warmer", ["run"], env, free_port()) for _ in range(WARMERS)]
        procs += warmers
        for w in warmers:
            w.wait_ready("/metrics")
        sim_control(sim, "reset")  # whatever start-up asked (nothing expected) is not counted
        with redis.Redis.from_url(redis_url) as client:
            calls, cpu = redis_commands(client).total(), redis_cpu(client)
            fill = asyncio.run(ask_all([w.url for w in webs], questions()))
            stats = sim_control(sim, "stats")
            fill.redis = (redis_commands(client).total() - calls, redis_cpu(client) - cpu)
        sent = [metric_totals(p.url, UPSTREAM, "priority", "outcome") for p in procs]
    finally:
        for proc in procs:
            proc.stop()
    LOGS.mkdir(exist_ok=True)
    (LOGS / f"{tag}-{n}{'-again' if again else ''}.json").write_bytes(orjson.dumps(stats["log"]))
    webs_sent, warmers_sent = sum(sent[:n], Counter()), sum(sent[n:], Counter())
    return Run(n, fill, stats, webs_sent, warmers_sent, warmer_history(redis_url), again)


def main() -> None:
    print(
        f"{len(questions())} cold questions ({PROJECTS} projects in their own zones x"
        f" {len(PRESETS)} presets x {'/'.join(KINDS)}), all at once, one client each following"
        f" Retry-After; N web processes + {WARMERS} warmers on one Redis;"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; simulator logs in {LOGS}"
    )
    with Redis() as server:
        for tag, args, budget, rate, what in (
            ("tight", TIGHT, {}, RATE, "simulator 10 req/s (burst 10), the service's defaults"),
            ("generous", (), GENEROUS, 200.0, "simulator unlimited, UPSTREAM_RATE_PER_SECOND=200"),
        ):
            print(f"{tag}: {what}", flush=True)
            sim = start_simulator(KEY, *args)
            try:
                runs = [
                    run_fleet(sim, server.url, n, budget, tag, n in SIZES[:i])
                    for i, n in enumerate(SIZES)
                ]
            finally:
                sim.stop()
            print("\n".join(report(runs, rate)), flush=True)
        print("sizing:", flush=True)
        print("\n".join(scale_sizing.run(server)), flush=True)


if __name__ == "__main__":
    main()
