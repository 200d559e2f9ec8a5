"""Every Script agrees with its twin, and keeps its keys in one Redis Cluster slot.

The budget, popularity and lease scripts are driven through their real callers over a
store that is Redis and the in-process store at once: each call runs on both, and a reply
or a read that differs fails the test at that call.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
import time
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

import service
import warmer
from service.analytics.catalog import Catalog
from service.fleet.budget import Budget
from service.fleet.popularity import Popularity
from service.fleet.priority import background
from service.fleet.queue import sizing
from service.store import catalog
from service.store.base import Store
from service.store.keys import Keys
from service.store.leases import ACQUIRE, ScriptedLeases
from service.store.memory import MemoryStore
from service.store.redis import RedisStore
from service.store.script import Script, ScriptArg
from tests.fleet.test_budget import Clock

PROJECT = "62912f08e83f76001b218690"
LEASE_CLOCK_SLACK_MS = 50  # Redis and this process start a lease's TTL a round trip apart


def same(redis_reply: Any, memory_reply: Any) -> bool:
    """Equal replies; a number in a string may be spelled differently (Redis versions
    spell doubles differently), its value may not."""
    if isinstance(redis_reply, list) and isinstance(memory_reply, list):
        return len(redis_reply) == len(memory_reply) and all(
            same(r, m) for r, m in zip(redis_reply, memory_reply, strict=True)
        )
    if isinstance(redis_reply, bytes) and isinstance(memory_reply, bytes):
        with contextlib.suppress(ValueError):
            return float(redis_reply) == float(memory_reply)
    return bool(redis_reply == memory_reply and type(redis_reply) is type(memory_reply))


class Agreeing(ScriptedLeases):
    """Redis and the in-process store at once: writes go to both, and every read or
    script reply must agree. Lease waits are compared within the clocks' slack."""

    kind = "agreeing"
    degraded = False

    def __init__(self, on_redis: Store, in_memory: MemoryStore) -> None:
        self.on_redis, self.in_memory = on_redis, in_memory

    async def _both(self, what: str, *args: Any) -> Any:
        on_redis = await getattr(self.on_redis, what)(*args)
        in_memory = await getattr(self.in_memory, what)(*args)
        assert same(on_redis, in_memory), (what, args, on_redis, in_memory)
        return on_redis

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        if script is not ACQUIRE:
            return await self._both("run", script, keys, args)
        on_redis = await self.on_redis.run(script, keys, args)
        in_memory = await self.in_memory.run(script, keys, args)
        gaps = [abs(r - m) for r, m in zip(on_redis, in_memory, strict=True)]
        assert all(g <= LEASE_CLOCK_SLACK_MS for g in gaps), (keys, on_redis, in_memory)
        return on_redis

    async def get(self, key: str) -> bytes | None:
        return await self._both("get", key)  # type: ignore[no-any-return]

    async def delete(self, *keys: str) -> None:
        await self._both("delete", *keys)


@pytest.fixture
def agreeing(redis_store: Store) -> Agreeing:
    """Redis (one server, then a cluster) and the in-process store at once."""
    return Agreeing(redis_store, MemoryStore())


async def test_budget_scripts_agree(agreeing: Agreeing) -> None:
    """Burst, refill, the background reserve and bucket, the queue's head (two processes'
    works), and pauses: same waits both ways."""
    clock = Clock()
    budget, elsewhere = (
        Budget(
            agreeing,
            "VF.WS.agree",
            rate=3,
            burst=5,
            background_share=0.4,
            max_wait=60,
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(2)
    )
    deadline = time.monotonic() + 60
    for _ in range(7):
        await budget.acquire(deadline)
    for work in (2.5, 40):
        with sizing(lambda: work):  # noqa: B023 (used at once)
            await elsewhere.acquire(deadline)
            await budget.acquire(deadline)
    with background():
        for _ in range(4):
            await budget.acquire(deadline)
    await budget.level()
    await budget.pause(12.5)
    await budget.pause(3)  # shorter: ignored on both
    await budget.level()
    await budget.acquire(deadline)
    await agreeing.get(budget.spec.pause)


async def test_popularity_scripts_agree(agreeing: Agreeing) -> None:
    """Bumps, decay, a rescale, trimming with ties, a lost base: same scores both ways."""
    clock = [1_000_000.0]
    pop = Popularity(agreeing, Keys("demo"), half_life=60, clock=lambda: clock[0])
    assert await pop.top(5) == []
    for i in range(30):
        for _ in range(i % 4 + 1):
            pop.bump("overview", f"q{i}")
    await pop.flush()
    await pop.top(10)
    clock[0] += 60 * 70  # past the rescale point
    pop.bump("compare", "late")
    await pop.flush()
    await pop.top(40)
    await agreeing.delete(pop.spec.base)
    pop.bump("overview", "after")
    await pop.flush()
    assert [name for name, _ in await pop.top(3)] == ["overview|after"]
    await agreeing.get(pop.spec.base)


async def test_popularity_trim_agrees(agreeing: Agreeing) -> None:
    """Trimming to `keep` drops the same members (lowest, ties by name) both ways."""
    pop = Popularity(agreeing, Keys("demo"), half_life=60, clock=lambda: 1_000_000.0)
    for i in range(pop.spec.keep + 20):
        pop.bump("overview", f"k{i:05}")
    await pop.flush()
    pop.bump("overview", "k00001")
    await pop.flush()
    assert len(await pop.top(pop.spec.keep + 10)) == pop.spec.keep


async def test_lease_scripts_agree(agreeing: Agreeing) -> None:
    """Acquire, renew and release answer the same for holders, others and strangers."""
    keys = [f"{{a}}{i}" for i in range(3)]
    assert await agreeing.acquire(keys[:2], "t1", 10) == [0, 0]
    await agreeing.acquire(keys, "t2", 5)
    assert await agreeing.renew(keys, "t2", 5) == 1
    assert await agreeing.release(keys, "t1") == 2
    await agreeing.get(keys[0])


async def test_catalog_scripts_agree(agreeing: Agreeing) -> None:
    """Recording keeps the later expiry, drops the expired and, past `keep`, the soonest
    expiring (ties by name); reading lists the live ones in the same order both ways."""
    key, now = "vfac:test:catalog", 1_000_000
    await catalog.record(agreeing, key, [("b", now + 50), ("a", now + 50), ("c", now + 10)], now, 5)
    await catalog.record(agreeing, key, [("c", now + 5), ("d", now + 100)], now, 5)  # c keeps 10
    assert await catalog.live(agreeing, key, now) == ["c", "a", "b", "d"]
    assert await catalog.live(agreeing, key, now + 10) == ["a", "b", "d"]
    await catalog.record(agreeing, key, [("e", now + 70), ("f", now + 50)], now + 20, 3)
    assert await catalog.live(agreeing, key, now + 20) == ["f", "e", "d"]  # a, b: lowest
    await catalog.record(agreeing, key, [("g", now + 30)], now + 200, 3)  # all expired
    assert await catalog.live(agreeing, key, now) == []


class Recording(MemoryStore):
    """Notes the keys of every script call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Script, list[str]]] = []

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        self.calls.append((script, list(keys)))
        return await super().run(script, keys, args)


def every_script() -> set[Script]:
    """The Scripts defined anywhere in the service and the warmer."""
    found: set[Script] = set()
    for package in (service, warmer):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module.name.endswith("__main__"):
                continue  # runs the program when imported
            found |= {
                value
                for value in vars(importlib.import_module(module.name)).values()
                if isinstance(value, Script)
            }
    return found


async def test_every_script_keeps_its_keys_in_one_cluster_slot() -> None:
    """Each Script's keys for a call share one hash slot, as Redis Cluster requires."""
    store, keys = Recording(), Keys("voiceflow")
    budget = Budget(  # probing, so the learned rate's script runs too
        store, "VF.WS.slots", rate=1, burst=10, background_share=0.5, max_wait=1, rate_max=2
    )
    await budget.acquire(time.monotonic() + 1)
    with background():
        await budget.acquire(time.monotonic() + 1)
    await budget.pause(1)
    await budget.level()
    pop = Popularity(store, keys, half_life=60)
    pop.bump("overview", "q")
    await pop.flush()
    await pop.top(1)
    cat = Catalog(store, keys)
    await cat.answer("overview", f"{PROJECT}|q", time.time() + 60)
    await cat.days(PROJECT, "interactions", [(date(2025, 1, 1), time.time() + 60)])
    await cat.stored(PROJECT, "interactions")
    # The leases of a run of days, as partitions takes them; an answer's, as single flight.
    first = date(2025, 1, 1)
    days = [Keys.lease(keys.day(PROJECT, "interactions", first + timedelta(n))) for n in range(9)]
    for leases in (days, [Keys.lease(keys.answer("overview", f"{PROJECT}|q"))]):
        await store.acquire(leases, "t", 1)
        await store.renew(leases, "t", 1)
        await store.release(leases, "t")

    assert {script for script, _ in store.calls} == every_script()
    for script, called_with in store.calls:
        slots = {key_slot(key.encode()) for key in called_with}
        assert len(slots) == 1, (script.name, called_with)


async def test_scripts_are_registered_once(redis_url: str) -> None:
    """Redis loads each Script's source once; later runs go by its digest."""
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStore(client, "vfac:test:done")
    await asyncio.gather(*(store.acquire([f"{{l}}{i}"], "t", 1) for i in range(5)))
    assert len(store._scripts) == 1
    assert (await client.script_exists(store._scripts[ACQUIRE].sha)) == [True]
    await store.close()
