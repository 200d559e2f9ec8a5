"""The store on a Redis Cluster (REDIS_MODE=cluster) beyond the contract every store keeps:
sharded notifications that follow their shard, reads across slots, and which errors mean
"down" (a failover under way) and which are about one call (a bug)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    MasterDownError,
    MaxConnectionsError,
    MovedError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from service.config.settings import Settings
from service.store import connect
from service.store.cluster import ClusterStore
from service.store.connect import open_store
from service.store.fallback import FallbackStore
from service.store.keys import Keys
from tests.redis_cluster import RedisCluster
from tests.store.test_store import SWAP

KEYS = Keys("test")
# Errors a cluster answers while a master fails over, or a client cannot reach its nodes.
FAILOVER_ERRORS: list[Callable[[], Exception]] = [
    lambda: ClusterDownError("CLUSTERDOWN The cluster is down"),
    lambda: MasterDownError("MASTERDOWN Link with MASTER is down"),
    lambda: TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
    lambda: MovedError("3999 127.0.0.1:6381"),
    lambda: ClusterError("TTL exhausted."),
    lambda: SlotNotCoveredError('Slot "3999" is not covered by the cluster.'),
    lambda: RedisClusterException("Redis Cluster cannot be connected."),
]


def settings(url: str) -> Settings:
    return Settings.from_env({"REDIS_URL": url, "REDIS_MODE": "cluster"})


@pytest.fixture
async def store(cluster_url: str) -> AsyncIterator[FallbackStore]:
    """The service's store on the session's cluster: the cluster store, memory behind it."""
    async with open_store(settings(cluster_url), KEYS) as opened:
        assert isinstance(opened, FallbackStore)
        yield opened


def cluster_of(store: FallbackStore) -> ClusterStore:
    primary = store.primary
    assert isinstance(primary, ClusterStore)
    return primary


async def test_reads_across_slots_keep_order(store: FallbackStore) -> None:
    """An MGET of keys in many slots (on every master) answers in the order asked."""
    keys = [f"k{i}" for i in range(50)]
    await store.set_many([(k, k.encode(), 10) for k in keys[::2]])
    assert await store.mget(keys) == [
        k.encode() if i % 2 == 0 else None for i, k in enumerate(keys)
    ]
    await store.delete(*keys)
    assert await store.mget(keys) == [None] * 50
    assert not store.degraded


async def test_notifications_are_sharded(store: FallbackStore, redis_cluster: RedisCluster) -> None:
    """The listener is an SSUBSCRIBEr on the channel's shard (no plain subscriber anywhere),
    and an SPUBLISH there wakes this process's waiters."""
    channel = KEYS.done_channel
    owner = redis_cluster.owner(channel)
    client = owner.client()
    try:
        for _ in range(100):
            if client.pubsub_shardnumsub(channel) == [(channel.encode(), 1)]:
                break
            await asyncio.sleep(0.05)
        assert client.pubsub_shardnumsub(channel) == [(channel.encode(), 1)]
        assert client.pubsub_numsub(channel) == [(channel.encode(), 0)]
        async with store.watch("answer") as done:
            client.spublish(channel, "answer")
            await asyncio.wait_for(done.wait(), 2)
    finally:
        client.close()


async def test_waiters_are_woken_after_the_channel_fails_over(own_cluster: RedisCluster) -> None:
    """A failover of the channel's master: the listener follows it to the promoted replica,
    and one process's notification wakes another's waiters again."""
    async with (
        open_store(settings(own_cluster.url), KEYS) as waiting,
        open_store(settings(own_cluster.url), KEYS) as notifying,
    ):
        async with waiting.watch("before") as done:
            await asyncio.sleep(0.2)  # subscribed
            await notifying.notify("before")
            await asyncio.wait_for(done.wait(), 2)
        own_cluster.fail_over(own_cluster.owner(KEYS.done_channel))
        for _ in range(100):  # a notification sent before the listener moved is lost
            async with waiting.watch("after") as done:
                await notifying.notify("after")
                try:
                    await asyncio.wait_for(done.wait(), 0.1)
                    break
                except TimeoutError:
                    continue
        assert done.is_set()


@pytest.mark.parametrize("error", FAILOVER_ERRORS, ids=lambda e: type(e()).__name__)
async def test_a_failover_error_means_down_not_a_bug(
    store: FallbackStore, error: Callable[[], Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command failing as a failover makes it fail is served from the process's memory, the
    process goes degraded (until a probe finds every master), and nothing raises."""

    async def failing(*args: object, **kwargs: object) -> None:
        raise error()

    monkeypatch.setattr(cluster_of(store)._r, "get", failing)
    assert await store.get("k") is None
    assert store.degraded


async def test_connections_closed_under_commands_mean_down_not_a_bug(store: FallbackStore) -> None:
    """On some failover errors redis-py closes every connection to every node, those other
    commands are using too. Each such command fails as the cluster being down (the fallback
    serves it from memory), whichever step it was at; none fails with the None stream it
    finds. Here the closing is done by hand, over and over, under 40 busy callers."""
    cluster = cluster_of(store)
    until = asyncio.get_running_loop().time() + 2
    failures: list[Exception] = []

    async def caller(n: int) -> None:
        while asyncio.get_running_loop().time() < until:
            try:
                await cluster.notify(f"k{n}")
                await cluster.get(f"k{n}")
            except Exception as exc:  # each kept, to be judged below
                failures.append(exc)
                await asyncio.sleep(0)

    async def closer() -> None:
        while asyncio.get_running_loop().time() < until:
            await cluster._r.aclose()
            await asyncio.sleep(0)

    await asyncio.gather(closer(), *(caller(n) for n in range(40)))
    assert failures, "no command was cut: the test did not test"
    assert [exc for exc in failures if not isinstance(exc, ClusterStore.DOWN)] == []


async def test_no_free_connection_is_a_busy_process_not_a_down_cluster(
    store: FallbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node with every connection in use fails at once in redis-py: the call queues again."""
    await store.set("k", b"v", 10)
    failures = [MaxConnectionsError("Too many connections")] * 3
    get = cluster_of(store)._r.get

    async def busy(key: str) -> object:
        if failures:
            raise failures.pop()
        return await get(key)

    monkeypatch.setattr(cluster_of(store)._r, "get", busy)
    assert await store.get("k") == b"v"
    assert not store.degraded


async def test_a_pool_busy_past_its_wait_is_not_cluster_down(
    cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every permit taken longer than the pool's wait: the call queues again and is served by
    the cluster; the process never goes degraded."""
    monkeypatch.setattr(connect, "REDIS_CONNECTIONS", 1)
    monkeypatch.setattr(connect, "REDIS_POOL_WAIT", 0.05)
    async with open_store(settings(cluster_url), KEYS) as store:
        await store.set("k", b"v", 60)
        cluster = cluster_of(store)  # type: ignore[arg-type]

        async def hold() -> None:
            async with cluster._command():  # the one permit, for 0.3 s (six waits)
                await cluster._r.blpop(["nothing"], 0.3)

        busy = asyncio.create_task(hold())
        await asyncio.sleep(0.02)
        assert await store.get("k") == b"v"
        await busy
        assert not store.degraded


async def test_a_script_over_several_slots_is_a_bug_not_an_outage(
    store: FallbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys in two slots: refused before it is sent, logged as an error about that call,
    answered from memory; the process stays on the cluster."""
    with caplog.at_level(logging.ERROR, logger="service.store.fallback"):
        assert await store.run(SWAP, ["{a}k", "{b}k"], ["v", 1000, 1]) == [None, 3, b"1"]
    assert "redis refused a command (ClusterCrossSlotError" in caplog.text
    assert not store.degraded


async def test_a_cluster_unreachable_at_start_up_degrades_the_process() -> None:
    """No node answers: the store opens, serves from memory and says so; closing is prompt."""
    async with open_store(settings("redis://127.0.0.1:1,redis://127.0.0.1:2"), KEYS) as store:
        await store.set("k", b"v", 10)
        assert await store.get("k") == b"v"
        assert store.degraded
        await store.ping()  # never fails: it is the in-process store's
