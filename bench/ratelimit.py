"""A cold 366-day overview at the rate limit: every request pays off, Retry-After is honest.

The simulator allows 10 requests a second per key (burst 10), as a tight Voiceflow would;
the service runs with its default settings on a real Redis. A client asks for the last 366
days and follows Retry-After until it gets its answer:
(a) as it is, and (b) with the web process SIGKILLed midway through the fetch and started
again. Each is set beside its floor (pages needed / rate), and (a) beside the same ask with
a generous budget. Counted from the simulator's own log: every request it saw (429s too),
pages fetched more than once, and each Retry-After against the time that was actually left.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp

from bench.env import KEY, PROJECT, Redis
from service.analytics.rows import LIST_METRICS
from simulator.data import rows_between
from tests.processes import Process, sim_control, start_service, start_simulator
from tests.redis_server import RedisServer

RATE = 10.0  # the simulator's limit per key, and the service's default budget
DAYS = 366
TOP_INTENTS_ALLOWANCE = 2  # a window's closed and open parts
KILL_AFTER = 12.0  # seconds into (b): about half the floor


@dataclass
class Run:
    name: str
    started: float = field(default_factory=time.monotonic)
    told: list[tuple[float, float, dict[str, Any]]] = field(default_factory=list)
    done: float = 0.0
    status: int = 0

    def summary(self) -> str:
        return f"{self.name}: {self.status} after {self.done - self.started:.1f} s"


def window() -> tuple[date, date]:
    today = datetime.now(UTC).date()
    return today - timedelta(days=DAYS - 1), today


def pages_needed(start: date, end: date) -> int:
    """Each metric's pages over the range's UTC days, plus top_intents' allowance."""
    first = datetime.combine(start, datetime.min.time(), UTC)
    last = datetime.combine(end, datetime.max.time(), UTC)
    now = datetime.now(UTC)
    return TOP_INTENTS_ALLOWANCE + sum(
        max(1, math.ceil(len(rows_between(PROJECT, m, first, last, now)) / 500))
        for m in LIST_METRICS
    )


async def ask(
    session: aiohttp.ClientSession, url: Callable[[], str], run: Run, **extra: str
) -> None:
    """One careful client: on a 503, wait Retry-After and ask again; until a final answer."""
    start, end = window()
    payload = {"project_id": PROJECT, "start": start.isoformat(), "end": end.isoformat()}
    while True:
        try:
            async with session.post(url(), json={**payload, **extra}) as resp:
                if resp.status != 503:
                    await resp.read()
                    run.status, run.done = resp.status, time.monotonic()
                    return
                body = await resp.json()
                retry = float(resp.headers["Retry-After"])
        except aiohttp.ClientError:  # the process was killed under us: ask the new one
            await asyncio.sleep(0.5)
            continue
        run.told.append((time.monotonic(), retry, body.get("progress") or {}))
        await asyncio.sleep(retry)


def audit(sim: Process, need: int, run: Run) -> list[str]:
    log = sim_control(sim, "stats")["log"]
    seen = len(log)
    throttled = sum(1 for e in log if e["status"] == 429)
    pages = Counter(
        (e["name"], e["startTime"], e["endTime"], e["cursor"]) for e in log if e["status"] == 200
    )
    again = sum(n - 1 for n in pages.values())
    elapsed = run.done - run.started
    floor = need / RATE
    lines = [
        f"  answer {run.status} after {elapsed:.1f} s; floor {floor:.1f} s "
        f"({need} pages needed / {RATE:g} per s): {elapsed / floor:.2f}x the floor",
        f"  upstream requests {seen} (429s: {throttled}) = {seen / need:.3f}x pages needed "
        f"(target <= 1.02x); pages fetched twice: {again}",
    ]
    ratios = []
    for at, retry, progress in run.told:
        left = run.done - at
        ratios.append(retry / left if left > 0 else math.inf)
        lines.append(
            f"    503 at {at - run.started:5.1f} s: Retry-After {retry:4.0f} s, actually left "
            f"{left:5.1f} s (x{retry / left:.2f}); progress {progress}"
        )
    honest = all(0.5 <= r <= 2 for r in ratios)
    lines.append(
        f"  Retry-After within x2 of the time left: {'yes' if honest else 'NO'} "
        f"({len(ratios)} told)"
    )
    return lines


def start(sim: Process, redis_url: str, **env: str) -> Process:
    return start_service(
        {
            "REDIS_URL": redis_url,
            "VOICEFLOW_API_KEY": KEY,
            "VOICEFLOW_ANALYTICS_URL": sim.url,
            **env,
        }
    )


async def scenario(
    name: str,
    redis: RedisServer,
    *,
    kill: bool = False,
    path: str = "/api/analytics/overview",
    extra: dict[str, str] | None = None,
    **env: str,
) -> list[str]:
    redis.flush()
    tight = "UPSTREAM_RATE_PER_SECOND" not in env
    sim = start_simulator(KEY, *(["--rate", str(RATE)] if tight else []))
    web = start(sim, redis.url, **env)
    run = Run(name)
    procs = {"web": web}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            client = asyncio.create_task(
                ask(session, lambda: procs["web"].url + path, run, **(extra or {}))
            )
            if kill:
                await asyncio.sleep(KILL_AFTER)
                procs["web"].kill()
                procs["web"] = start(sim, redis.url, **env)
            await client
        start_day, end_day = window()
        if path == "/api/export":  # the PDF's compare needs the previous 366 days too
            start_day -= timedelta(days=DAYS)
        lines = [f"{name}:", *audit(sim, pages_needed(start_day, end_day), run)]
    finally:
        for proc in {web, procs["web"], sim}:
            proc.stop()
    return lines


async def run() -> None:
    with Redis() as redis:
        for lines in [
            await scenario("(a) cold 366-day overview, 10 req/s", redis),
            await scenario("(b) the same, web process SIGKILLed midway", redis, kill=True),
            await scenario(
                "(export) cold 366-day PDF export, 10 req/s",
                redis,
                path="/api/export",
                extra={"format": "pdf"},
            ),
            await scenario(
                "    generous budget (no simulator limit)",
                redis,
                UPSTREAM_RATE_PER_SECOND="1000",
                UPSTREAM_BURST="1000",
            ),
        ]:
            print("\n".join(lines))


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
