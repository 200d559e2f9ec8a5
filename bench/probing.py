"""Does the fleet learn Voiceflow's undocumented rate limit? (UPSTREAM_RATE_MAX_PER_SECOND)

The simulator limits the key at LIMIT req/s; the service starts at START and may probe up to
MAXIMUM, under steady cold demand far above MAXIMUM (CLIENTS concurrent overview asks, each
for a project never asked before, so each costs a query per metric). For PROBING_SECONDS
(default 120) the learned rate is read from GET /api/warmer/status and the simulator's
answers are counted; printed every PRINT_EVERY s, then: when the rate settled within BAND
of LIMIT, the 429s and the halvings. Then, as cheap context, PROBING_COMPARE_SECONDS (default
20) each at a fixed rate with no probing: the tight START and the generous MAXIMUM.

The service's burst is set under the simulator's: probing learns a rate, not a burst, and a
bucket as large as Voiceflow's or larger is refused after pauses whatever the rate.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp

from bench.env import KEY
from bench.workload import project_id
from tests.processes import sim_control, start_service, start_simulator
from tests.redis_server import RedisServer

SECONDS = float(os.environ.get("PROBING_SECONDS", "120"))
COMPARE_SECONDS = float(os.environ.get("PROBING_COMPARE_SECONDS", "20"))
LIMIT = 25.0  # the simulator's req/s per key: what the service should learn
SIM_BURST = 10  # the simulator's bucket (its default)
# UPSTREAM_BURST: half the simulator's. Probing learns a rate, not a burst; sends clump on
# their way out, and at the simulator's own size a clump empties its bucket below the limit.
BURST = int(os.environ.get("PROBING_BURST", "5"))
START, MAXIMUM = 10.0, 50.0  # UPSTREAM_RATE_PER_SECOND, UPSTREAM_RATE_MAX_PER_SECOND
CLIENTS = 48  # cold asks in flight: each costs ~9 upstream requests, demand >> MAXIMUM
SAMPLE_SECONDS = 1.0  # how often the learned rate and the simulator's counts are read
PRINT_EVERY = 5  # samples per printed line
BAND = 0.2  # "settled": within 20% of LIMIT
SETTLE_WINDOW = 30  # samples: the trailing mean spans at least one halving-and-recovery
STEADY = 60  # samples at the end summarised as the steady state
ADMIN = "bench-admin-token-0123456789"
DAY = "2025-03-01"  # a closed past day: every ask of a new project is a cold miss


class Sample(NamedTuple):
    t: float  # seconds into the run
    rate: float | None  # the fleet's learned rate; None off Redis (the process's own then)
    ok: int  # the simulator's 200s so far
    refused: int  # and 429s
    halvings: int  # so far (the fleet's: carried over while off Redis)


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # the clients' answers

    @property
    def degraded(self) -> int:
        return sum(s.rate is None for s in self.samples)


async def demand(url: str, stop: asyncio.Event, run: Run) -> None:
    """CLIENTS loops, each asking a cold overview of a new project as soon as the last ends."""
    ids = itertools.count()
    body = {"start": DAY, "end": DAY, "tz": "UTC"}

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            payload = {**body, "project_id": project_id(1000 + next(ids))}
            try:
                async with session.post(f"{url}/api/analytics/overview", json=payload) as resp:
                    await resp.read()
                    run.statuses[resp.status] = run.statuses.get(resp.status, 0) + 1
            except (aiohttp.ClientError, TimeoutError):
                run.statuses[599] = run.statuses.get(599, 0) + 1

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(CLIENTS)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def observe(url: str, sim: Any, seconds: float, run: Run) -> None:
    """Sample the learned rate (the status endpoint) and the simulator's counts each second."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for n in itertools.count(1):
            await asyncio.sleep(max(0.0, started + n * SAMPLE_SECONDS - time.monotonic()))
            async with session.get(f"{url}/api/warmer/status", headers=headers) as resp:
                learned = (await resp.json())["budget"]["learned_rate"] or {}
            async with session.get(f"{url}/health") as resp:
                degraded = (await resp.json())["degraded"]
            answered = (await asyncio.to_thread(sim_control, sim, "stats"))["answered"]
            halvings = run.samples[-1].halvings if run.samples else 0
            run.samples.append(
                Sample(
                    n * SAMPLE_SECONDS,
                    None if degraded else learned.get("rate_per_second"),
                    answered.get("200", 0),
                    answered.get("429", 0),
                    halvings if degraded else learned.get("halvings", 0),
                )
            )
            if n * SAMPLE_SECONDS >= seconds:
                return


async def one_run(redis: RedisServer, seconds: float, rate: float, ceiling: float | None) -> Run:
    redis.flush()
    sim = start_simulator(KEY, "--rate", str(LIMIT), "--burst", str(SIM_BURST))
    env = {
        "REDIS_URL": redis.url,
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "ADMIN_TOKEN": ADMIN,
        "LOG_LEVEL": os.environ.get("PROBING_LOG_LEVEL", "ERROR"),
        "UPSTREAM_RATE_PER_SECOND": str(rate),
        "UPSTREAM_RATE_MAX_PER_SECOND": "" if ceiling is None else str(ceiling),
        "UPSTREAM_BURST": str(BURST),
    }
    service = start_service(env)
    run, stop = Run(), asyncio.Event()
    try:
        load = asyncio.create_task(demand(service.url, stop, run))
        await observe(service.url, sim, seconds, run)
        stop.set()
        await load
        return run
    finally:
        service.stop()
        sim.stop()


def settled_at(samples: list[Sample]) -> float | None:
    """When the trailing SETTLE_WINDOW-sample mean of the learned rate came within BAND of
    LIMIT to stay there (samples off Redis left out)."""
    lo, hi = LIMIT * (1 - BAND), LIMIT * (1 + BAND)
    known = [(s.t, s.rate) for s in samples if s.rate is not None]
    ends = range(SETTLE_WINDOW, len(known) + 1)
    means = [
        (known[i - 1][0], statistics.fmean(r for _, r in known[i - SETTLE_WINDOW : i]))
        for i in ends
    ]
    for n, (t, _) in enumerate(means):
        if all(lo <= mean <= hi for _, mean in means[n:]):
            return t
    return None


def report(run: Run) -> None:
    print(f"{'t s':>5} {'learned req/s':>14} {'upstream 200/s':>15} {'429s':>6} {'halvings':>9}")
    previous = 0
    for t, rate, ok, refused, halvings in run.samples[PRINT_EVERY - 1 :: PRINT_EVERY]:
        per_second = (ok - previous) / (PRINT_EVERY * SAMPLE_SECONDS)
        previous = ok
        shown = "off Redis" if rate is None else f"{rate:.1f}"
        print(f"{t:5.0f} {shown:>14} {per_second:15.1f} {refused:6} {halvings:9}")
    first = next((s.t for s in run.samples if s.rate and abs(s.rate - LIMIT) <= BAND * LIMIT), None)
    settled = settled_at(run.samples)
    _, _, ok, refused, halvings = run.samples[-1]
    steady = [s.rate for s in run.samples[-STEADY:] if s.rate is not None]
    steady_ok = (ok - run.samples[-STEADY - 1].ok) / (STEADY * SAMPLE_SECONDS)
    print(
        f"first within {BAND:.0%} of {LIMIT:.0f}: t={first or 0:.0f} s; settled (trailing "
        f"{SETTLE_WINDOW} s mean stays within {BAND:.0%} to the end): "
        + ("not within the run" if settled is None else f"t={settled:.0f} s")
        + f" (target: within {SECONDS:.0f} s)"
    )
    print(
        f"429s: {refused}, halvings: {halvings} ({refused / max(1, halvings):.2f} 429s per "
        "halving; target <= 1)"
    )
    print(
        f"last {STEADY} s: learned rate mean {statistics.fmean(steady):.1f} (min "
        f"{min(steady):.1f}, max {max(steady):.1f}); upstream answered {steady_ok:.1f} req/s "
        f"= {steady_ok / LIMIT:.0%} of the limit; client statuses {sorted(run.statuses.items())}"
    )
    if run.degraded:
        print(
            f"off Redis (degraded: own bucket and rate) in {run.degraded}/{len(run.samples)} "
            "samples"
        )


def fixed(run: Run, seconds: float) -> str:
    _, _, ok, refused, _ = run.samples[-1]
    return f"{ok / seconds:5.1f} req/s answered, {refused:4} 429s"


def main() -> None:
    print(
        f"simulator {LIMIT:.0f} req/s per key (burst {SIM_BURST}); service "
        f"UPSTREAM_RATE_PER_SECOND={START:.0f}, UPSTREAM_RATE_MAX_PER_SECOND={MAXIMUM:.0f}, "
        f"UPSTREAM_BURST={BURST}; {CLIENTS} clients asking cold overviews for {SECONDS:.0f} s"
    )
    redis = RedisServer().start()
    try:
        report(asyncio.run(one_run(redis, SECONDS, START, MAXIMUM)))
        if COMPARE_SECONDS > 0:
            tight = asyncio.run(one_run(redis, COMPARE_SECONDS, START, None))
            generous = asyncio.run(one_run(redis, COMPARE_SECONDS, MAXIMUM, None))
            print(
                f"fixed rate, no probing, {COMPARE_SECONDS:.0f} s each: tight {START:.0f}/s: "
                f"{fixed(tight, COMPARE_SECONDS)}; generous {MAXIMUM:.0f}/s: "
                f"{fixed(generous, COMPARE_SECONDS)}"
            )
    finally:
        redis.close()


if __name__ == "__main__":
    main()
