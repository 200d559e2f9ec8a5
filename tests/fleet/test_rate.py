"""The learned upstream rate: additive rise under pressure, one halving per 429 episode."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.fleet.budget import Budget, budget_keys
from service.fleet.rate import (
    CREDIT_CAP_SECONDS,
    INCREASE_SHARE,
    RECOVER_TO,
    RECOVERY_SPEEDUP,
    REPORT_SECONDS,
    LearnedRate,
)
from service.store.base import Store
from service.store.memory import MemoryStore
from service.store.redis import RedisStore
from tests.fleet.test_budget import Clock
from tests.store.test_scripts import Agreeing

KEY = "VF.WS.rate-test"
RATE_KEY = budget_keys(KEY)[3]
START, MAX = 10.0, 50.0
STEP = START * INCREASE_SHARE  # req/s gained per second of pressed success


def learned(store: Store, clock: Clock) -> LearnedRate:
    return LearnedRate(store, RATE_KEY, start=START, maximum=MAX, clock=clock)


def probing(store: Store, clock: Clock, **kw: Any) -> Budget:
    options = {"rate": START, "burst": 1.0, "background_share": 0.5, "max_wait": 60.0, **kw}
    return Budget(store, KEY, rate_max=MAX, clock=clock, sleep=clock.sleep, **options)


async def succeed_for(rates: list[LearnedRate], clock: Clock, seconds: float) -> None:
    """Each process is held back by the bucket and sees 200s, every REPORT_SECONDS (the first
    report of all, after none for a while, only starts the clock)."""
    for i in range(round(seconds / REPORT_SECONDS) + 1):
        clock.now += REPORT_SECONDS if i else 0
        for rate in rates:
            rate.took(0.1, user=True)
            await rate.on_success()


async def test_rises_additively_while_pressed_and_answered(store: Store) -> None:
    """Pressed 200s raise the rate by STEP per second, whatever the number of reports."""
    clock = Clock()
    rate = learned(store, clock)
    assert await rate.current() == START
    await succeed_for([rate], clock, 10)
    assert await rate.current() == pytest.approx(START + 10 * STEP)


async def test_the_rise_does_not_scale_with_the_fleet(store: Store) -> None:
    """Four processes reporting the same seconds of success raise it as much as one."""
    clock = Clock()
    fleet = [learned(store, clock) for _ in range(4)]
    await succeed_for(fleet, clock, 10)
    assert await learned(store, clock).current() == pytest.approx(START + 10 * STEP)


async def test_no_rise_without_pressure_or_after_a_gap(store: Store) -> None:
    """200s while the bucket holds nobody back, or after a quiet gap, are no evidence."""
    clock = Clock()
    rate = learned(store, clock)
    for _ in range(20):  # never held back: the configured rate was never the limit
        clock.now += 0.5
        rate.took(0, user=True)
        await rate.on_success()
    assert await rate.current() == START
    rate.took(0.1, user=True)
    await rate.on_success()
    clock.now += 30  # a quiet half minute, then one pressed success
    rate.took(0.1, user=True)
    await rate.on_success()
    assert await rate.current() == pytest.approx(START + CREDIT_CAP_SECONDS * STEP)


async def test_never_exceeds_the_max(store: Store) -> None:
    """Sustained success stops at UPSTREAM_RATE_MAX_PER_SECOND."""
    clock = Clock()
    rate = learned(store, clock)
    await succeed_for([rate], clock, (MAX - START) / STEP + 30)
    assert await rate.current() == MAX


async def test_after_a_halving_it_recovers_fast_then_probes(store: Store) -> None:
    """Back to RECOVER_TO of the refused rate RECOVERY_SPEEDUP times as fast, then STEP."""
    clock = Clock()
    rate = learned(store, clock)
    await succeed_for([rate], clock, 20)  # 10 -> 20
    await rate.on_429(1.0)
    assert await rate.current() == pytest.approx(START)
    clock.now += 1.0  # the pause
    fast = (20 * RECOVER_TO - START) / (STEP * RECOVERY_SPEEDUP)
    await succeed_for([rate], clock, fast)
    assert await rate.current() == pytest.approx(20 * RECOVER_TO)
    await succeed_for([rate], clock, 4)
    assert await rate.current() == pytest.approx(20 * RECOVER_TO + 4 * STEP)


async def test_two_processes_seeing_one_429_burst_halve_once(store: Store) -> None:
    """Two Budgets on one store, both refused for requests sent before the pause: one halving."""
    clock = Clock()
    a, b = probing(store, clock), probing(store, clock)
    sent, taken = asyncio.Event(), asyncio.Semaphore(0)

    async def refused(budget: Budget) -> None:  # one process's request, answered 429
        await budget.acquire(time.monotonic() + 60)
        taken.release()
        await sent.wait()
        await budget.pause(1.0)

    tasks = [asyncio.create_task(refused(budget)) for budget in (a, b)]  # a task per request
    for _ in tasks:  # both requests are sent before either answer arrives
        await taken.acquire()
    sent.set()
    await asyncio.gather(*tasks)
    status = await learned(store, clock).status()
    assert status["rate_per_second"] == START / 2 and status["halvings"] == 1
    assert status["last_halved_from"] == START

    clock.now += 1.5  # past the pause: a request sent now and refused is a new episode
    await asyncio.create_task(refused(b))
    assert await learned(store, clock).current() == START / 4
    clock.now += 1.5
    await asyncio.create_task(refused(a))
    status = await learned(store, clock).status()
    assert status["rate_per_second"] == START / 4 == status["floor_per_second"]  # held there


async def test_the_bucket_refills_at_the_learned_rate(store: Store) -> None:
    """After a halving, tokens come half as often."""
    clock = Clock()
    b = probing(store, clock)
    deadline = time.monotonic() + 60
    await b.acquire(deadline)  # the burst of one
    await b.acquire(deadline)
    assert clock.slept == [0.1]
    await b.pause(0.5)
    await b.acquire(deadline)  # after the pause the bucket starts empty: one refill
    started = clock.now
    await b.acquire(deadline)
    assert clock.now - started == pytest.approx(0.2, abs=0.01)  # 1/5 s, not 1/10: the halved rate


async def test_off_by_default_the_rate_is_as_configured(store: Store) -> None:
    """Without a maximum: no learned rate, 200s and 429s leave the configured rate alone."""
    clock = Clock()
    options = {"rate": 10.0, "burst": 1.0, "background_share": 0.5, "max_wait": 60.0}
    b = Budget(store, KEY, clock=clock, sleep=clock.sleep, **options)
    assert b.learned is None
    deadline, started = time.monotonic() + 60, clock.now
    for _ in range(3):
        await b.acquire(deadline)
        await b.observe(200)
    await b.pause(0.5)
    await b.observe(429)
    await b.acquire(deadline)
    await b.acquire(deadline)
    # 1/10 s per token, the pause, and one refill: the bucket starts empty after a pause.
    assert clock.now - started == pytest.approx(0.9, abs=0.01)
    assert await LearnedRate(store, RATE_KEY, start=10, maximum=20).current() == 10  # untouched


async def test_the_script_agrees_with_its_twin(redis_url: str) -> None:
    """Rises with fractions, capped gaps, the max, halvings, ignored 429s: same both ways."""
    on_redis = RedisStore(aioredis.Redis.from_url(redis_url), "vfac:test:done")
    clock = Clock()
    rate = LearnedRate(
        Agreeing(on_redis, MemoryStore()), RATE_KEY, start=3.3, maximum=7.7, clock=clock
    )
    try:
        await rate.current()
        rate.took(0.1, user=True)
        for step in (0.0, 0.37, 0.26, 2.5, 0.31, 0.29):
            clock.now += step
            rate.took(0.1, user=True)
            await rate.on_success()
        await rate.on_429(1.25)
        await rate.on_429(1.25)  # same episode: ignored both ways
        clock.now += 1.3
        for _ in range(200):  # up to the max
            clock.now += 0.27
            rate.took(0.1, user=True)
            await rate.on_success()
        await rate.on_429(2)
        await rate.status()
    finally:
        await on_redis.close()


@pytest.mark.parametrize("store_kind", ["memory"])  # the status is the same over either store
async def test_warmer_status_shows_the_learned_rate(make_client: Any) -> None:
    """GET /api/warmer/status shows the learned rate under "budget" when probing, else null."""
    headers = {"Authorization": "Bearer admin-token-0123456789"}
    env = {"ADMIN_TOKEN": "admin-token-0123456789"}
    off = await make_client(**env)
    budget = (await (await off.get("/api/warmer/status", headers=headers)).json())["budget"]
    assert budget["learned_rate"] is None and budget["upstream_rate_max_per_second"] is None
    on = await make_client(UPSTREAM_RATE_MAX_PER_SECOND="20000", **env)
    budget = (await (await on.get("/api/warmer/status", headers=headers)).json())["budget"]
    assert budget["learned_rate"]["rate_per_second"] == 10000  # the configured start
    assert budget["learned_rate"]["max_per_second"] == 20000
    assert budget["learned_rate"]["halvings"] == 0


async def test_background_waits_are_no_evidence(store: Store) -> None:
    """Only a user held back says the fleet's rate limits: background has its own bucket."""
    clock = Clock()
    rate = learned(store, clock)
    for _ in range(8):
        clock.now += 0.5
        rate.took(0.1, user=False)
        await rate.on_success()
    assert await rate.current() == START
