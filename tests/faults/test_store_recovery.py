"""The process's way back to Redis after an outage, pinned on the store the app opens
(`open_store`) over a Redis of the test's own: what the process fault tests found."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import redis

from service.config.settings import Settings
from service.store import connect
from service.store.base import Store
from service.store.connect import open_store
from service.store.keys import Keys
from tests.faults.harness import until
from tests.redis_server import RedisServer

CONNECTIONS = 20  # idle in the pool when the outage comes


@pytest.fixture
async def store(own_redis: RedisServer) -> AsyncIterator[Store]:
    settings = Settings.from_env({"REDIS_URL": own_redis.url})
    async with open_store(settings, Keys("voiceflow")) as opened:
        yield opened


async def test_back_from_a_restart_for_good_not_once_per_dead_connection(
    store: Store, own_redis: RedisServer
) -> None:
    """Redis restarted: the connections idle in the pool died with it; the process goes back
    to Redis once, and its next burst of commands does not send it back to memory."""
    await asyncio.gather(*(store.get(f"k{i}") for i in range(CONNECTIONS)))  # fill the pool
    own_redis.send_signal(signal.SIGKILL)
    await store.get("k")  # finds it gone
    assert store.degraded
    await asyncio.to_thread(own_redis.start)
    await until(lambda: not store.degraded, 5, "back on Redis")
    await asyncio.gather(*(store.get(f"k{i}") for i in range(CONNECTIONS)))
    assert not store.degraded


async def test_a_lease_released_during_an_outage_is_released_on_redis_after_it(
    store: Store, own_redis: RedisServer
) -> None:
    """A lease taken on Redis, released while Redis is paused (the holder finished on the
    in-process store): given back on Redis as soon as it answers, not left to its TTL."""
    lease = "vfac:test:answer:lease"
    assert await store.acquire([lease], "token", 15.0) == [0.0]
    own_redis.send_signal(signal.SIGSTOP)
    try:
        await store.get("k")  # times out
        assert store.degraded
        await store.release([lease], "token")
    finally:
        own_redis.send_signal(signal.SIGCONT)
    await until(lambda: not store.degraded, 5, "back on Redis")
    client = redis.Redis.from_url(own_redis.url)
    try:
        assert client.get(lease) is None
    finally:
        client.close()


async def test_a_pool_busy_past_its_wait_is_not_redis_down(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection in use longer than the pool's wait (a burst of cold asks on a busy
    loop): the call queues again and is served by Redis; the process never goes degraded."""
    monkeypatch.setattr(connect, "REDIS_CONNECTIONS", 2)  # one is the subscriber's
    monkeypatch.setattr(connect, "REDIS_POOL_WAIT", 0.05)
    settings = Settings.from_env({"REDIS_URL": own_redis.url})
    async with open_store(settings, Keys("voiceflow")) as store:
        await store.set("k", b"v", 60)
        # The other connection is busy for 0.3 s (a BLPOP): six pool waits pass meanwhile.
        busy = asyncio.create_task(store.primary._r.execute_command("BLPOP", "nothing", "0.3"))  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)
        assert await store.get("k") == b"v"
        await busy
        assert not store.degraded
