"""The fleet-wide upstream budget: a token bucket in the store, priorities, shared pauses."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from service.errors import UpstreamRateLimited
from service.fleet.budget import Budget, budget_keys
from service.fleet.priority import background
from service.store.base import Store
from service.store.fallback import FallbackStore
from service.store.memory import MemoryStore
from service.store.redis import RedisStore
from tests.redis_server import free_port

KEY = "VF.WS.budget-test"


class Clock:
    """A wall clock the test moves by hand; sleeping moves it too."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def budget(store: Store, clock: Clock, **kw: float) -> Budget:
    options = {"rate": 2.0, "burst": 4.0, "background_share": 0.5, "max_wait": 5.0, **kw}
    return Budget(store, KEY, clock=clock, sleep=clock.sleep, **options)


async def test_burst_then_rate(store: Store) -> None:
    """A full bucket gives `burst` tokens at once, then one per 1/rate seconds."""
    clock = Clock()
    b = budget(store, clock)
    deadline = time.monotonic() + 60
    for _ in range(4):
        await b.acquire(deadline)
    assert clock.slept == []
    await b.acquire(deadline)
    await b.acquire(deadline)
    assert clock.slept == [0.5, 0.5]


async def test_user_request_does_not_wait_past_max_wait(store: Store) -> None:
    """When the next token is further off than max_wait, the request is told to retry."""
    clock = Clock()
    b = budget(store, clock, rate=0.1, burst=1, max_wait=2)
    await b.acquire(time.monotonic() + 60)
    with pytest.raises(UpstreamRateLimited) as err:
        await b.acquire(time.monotonic() + 60)
    assert err.value.retry_after == pytest.approx(10, abs=0.01)


async def test_background_keeps_off_the_reserve(store: Store) -> None:
    """Background work may not take the tokens reserved for users, and has its own rate."""
    clock = Clock()
    b = budget(store, clock, rate=2, burst=4, background_share=0.5)
    deadline = time.monotonic() + 60
    with background():
        await b.acquire(deadline)  # total 4 -> 3 (reserve is 2), background 2 -> 1
        await b.acquire(deadline)  # total must be >= 3: yes -> 2; background 1 -> 0
        assert clock.slept == []
        await b.acquire(deadline)  # waits for both a background token and the reserve
    assert clock.slept and clock.slept[0] >= 0.5
    waits = len(clock.slept)
    for _ in range(2):  # users still find tokens at once
        await b.acquire(deadline)
    assert len(clock.slept) == waits


async def test_pause_is_shared_and_only_moves_forward(store: Store) -> None:
    """After a 429 every budget on the key waits until the pause ends (a shorter one is
    ignored), and the bucket starts empty then: a full burst would meet the limit again."""
    clock = Clock()
    first, second = budget(store, clock, max_wait=60), budget(store, clock, max_wait=60)
    await first.pause(30)
    await first.pause(5)
    await second.acquire(time.monotonic() + 120)
    assert clock.slept == [30.0, 0.5]  # the pause, then one token at 2 a second


async def test_pause_beyond_max_wait_raises_with_retry_after(store: Store) -> None:
    """A user's request under a long pause is answered with Retry-After at once."""
    clock = Clock()
    b = budget(store, clock, max_wait=5)
    await b.pause(40)
    with pytest.raises(UpstreamRateLimited) as err:
        await b.acquire(time.monotonic() + 120)
    assert err.value.retry_after == pytest.approx(40, abs=0.01)


def test_the_api_key_is_hashed_in_budget_keys() -> None:
    """Budget keys identify the API key without containing it."""
    keys = budget_keys("VF.WS.some-secret-key")
    assert all("some-secret-key" not in k for k in keys)
    assert len({k.split("{")[1].split("}")[0] for k in keys}) == 1


async def test_concurrent_takers_share_one_bucket(store: Store) -> None:
    """Many concurrent takers on real time get no more than burst + rate * elapsed."""
    b = Budget(store, KEY, rate=20, burst=5, background_share=0.5, max_wait=10)
    started = time.monotonic()
    granted: list[float] = []

    async def take() -> None:
        await b.acquire(time.monotonic() + 30)
        granted.append(time.monotonic() - started)

    await asyncio.gather(*(take() for _ in range(25)))
    elapsed = max(granted)
    assert elapsed >= (25 - 5) / 20 * 0.9  # the 20 beyond the burst needed ~1 s of refill


async def test_a_degraded_store_spends_only_the_fallback_share() -> None:
    """With Redis unreachable, this process's bucket refills at its fallback share alone."""
    dead = aioredis.Redis(port=free_port(), socket_connect_timeout=0.2)
    store = FallbackStore(RedisStore(dead, "vfac:test:done"), MemoryStore())
    clock = Clock()
    b = Budget(
        store,
        KEY,
        clock=clock,
        sleep=clock.sleep,
        rate=2.0,
        burst=1.0,
        background_share=0.5,
        max_wait=5.0,
        fallback_share=0.25,
    )
    try:
        await b.acquire(time.monotonic() + 60)  # finds Redis gone; the local burst grants it
        assert store.degraded
        await b.acquire(time.monotonic() + 60)
        assert clock.slept == [2.0]  # 1 / (2 * 0.25): a quarter of the rate
    finally:
        await store.close()


async def test_level_shows_the_tokens_left_and_the_pause(store: Store) -> None:
    """What a metrics scrape reads: a full bucket, tokens taken, then a pause."""
    clock = Clock()
    b = budget(store, clock)
    assert await b.level() == (4.0, 0.0)
    deadline = time.monotonic() + 60
    await b.acquire(deadline)
    await b.acquire(deadline)
    assert await b.level() == (2.0, 0.0)
    clock.now += 0.25  # half a token back, at 2 a second
    assert await b.level() == (2.5, 0.0)
    await b.pause(30)
    tokens, until = await b.level()
    assert tokens == 0.0 and until == pytest.approx(clock.now + 30, abs=0.001)
