"""Fair shares of the users' upstream budget between API tokens.

One client (token `bulk`) asks for BULK cold 7-day overviews at once, each a past week of
its own, and keeps them coming; a second later another client (token `week`) asks for one
cold last-7-days overview and follows Retry-After until it has its answer. Measured as the
`week` client's time to its answer:
- alone (no bulk load): its own cost;
- beside the bulk client, each with its own token: the budget's turns alternate between the
  two, so it should take at most about twice its own cost (its fair share is half);
- beside the bulk client with one shared token: one client to the budget, no fair share.
The bulk client's weeks are each one day shorter than the week client's window (7 UTC days
against 8), so by least work first alone they would all go before it.

Tight: the simulator allows RATE requests a second and the service runs at its defaults (the
budget edge). Generous: no simulator limit, and the service's budget at GENEROUS_RATE.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import aiohttp

from bench.dashboard_load import RATE, TIGHT
from bench.env import KEY, Redis
from bench.workload import project_id
from tests.processes import Process, sim_control, start_service, start_simulator

BULK = 100  # the bulk client's cold asks in flight
HEAD_START = 1.0  # seconds the bulk client asks alone before the week client asks
GENEROUS_RATE = 200.0
BULK_TOKEN, WEEK_TOKEN = "bulk-token-0123456789", "week-token-0123456789"


@dataclass
class Result:
    seconds: float  # the week client's ask to its answer
    asks: int  # requests it made (503s it followed, then its answer)
    upstream: int  # requests the simulator saw during the run


async def follow(http: aiohttp.ClientSession, url: str, token: str, body: dict[str, str]) -> int:
    """Ask until the answer (following Retry-After); the number of asks."""
    asks = 0
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        asks += 1
        async with http.post(f"{url}/api/analytics/overview", json=body, headers=headers) as r:
            await r.read()
            if r.status == 200:
                return asks
            if r.status != 503:
                raise RuntimeError(f"{r.status} for {body}")
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


def client() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0)  # no cap: BULK asks at once
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600))


def week_body(today: date) -> dict[str, str]:
    start = today - timedelta(days=6)
    return {"project_id": project_id(1), "start": start.isoformat(), "end": today.isoformat()}


def bulk_bodies(today: date) -> list[dict[str, str]]:
    """BULK past weeks, each of its own project and dates: every one a cold miss."""
    bodies = []
    for i in range(BULK):
        end = today - timedelta(days=30 + 7 * (i % 40))
        bodies.append(
            {
                "project_id": project_id(100 + i),
                "start": (end - timedelta(days=6)).isoformat(),
                "end": end.isoformat(),
            }
        )
    return bodies


async def one_run(tight: bool, bulk: bool, shared: bool) -> Result:
    today = datetime.now(UTC).date()
    with Redis() as redis:
        sim = start_simulator(KEY, *(TIGHT if tight else ()))
        env = {"VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url}
        env |= {
            "REDIS_URL": redis.url,
            "LOG_LEVEL": os.environ.get("FAIRSHARE_LOG_LEVEL", "WARNING"),
        }
        env["API_TOKENS"] = f"bulk={BULK_TOKEN}:*; week={WEEK_TOKEN}:*"
        if not tight:
            env["UPSTREAM_RATE_PER_SECOND"] = f"{GENEROUS_RATE:g}"
        web: Process = start_service(env)
        try:
            # Two clients, two sessions: one's hundred connections do not queue the other's.
            async with client() as bulk_http, client() as week_http:
                load = [
                    asyncio.create_task(follow(bulk_http, web.url, BULK_TOKEN, b))
                    for b in (bulk_bodies(today) if bulk else [])
                ]
                await asyncio.sleep(HEAD_START if bulk else 0)
                started = time.monotonic()
                token = BULK_TOKEN if shared else WEEK_TOKEN
                asks = await follow(week_http, web.url, token, week_body(today))
                seconds = time.monotonic() - started
                for task in load:
                    task.cancel()
                await asyncio.gather(*load, return_exceptions=True)
            upstream = len(sim_control(sim, "stats")["log"])
        finally:
            web.stop()
            sim.stop()
    return Result(seconds, asks, upstream)


async def run() -> None:
    for tight in (True, False):
        label = f"tight ({RATE:g} req/s)" if tight else f"generous ({GENEROUS_RATE:g} req/s)"
        alone = await one_run(tight, bulk=False, shared=False)
        fair = await one_run(tight, bulk=True, shared=False)
        shared = await one_run(tight, bulk=True, shared=True)
        print(f"{label}: the week client's cold last-7-days overview")
        for name, r in (("alone", alone), ("own token", fair), ("one shared token", shared)):
            print(
                f"  {name:>17}: {r.seconds:6.2f} s = {r.seconds / alone.seconds:5.2f}x alone "
                f"({r.asks} asks; upstream {r.upstream} requests in the run)"
            )
        # Its fair share: half the rate while both clients wait, so its `need` requests take
        # 2 x need / rate at the least (alone it also had the bucket's burst to itself).
        rate = RATE if tight else GENEROUS_RATE
        bound = max(alone.seconds, 2 * alone.upstream / rate)
        print(
            f"  fair-share bound {bound:.2f} s (2 x {alone.upstream} requests at {rate:g}/s, or "
            f"alone): own token {fair.seconds / bound:.2f}x of it, one shared token "
            f"{shared.seconds / bound:.1f}x"
        )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
