"""One contract, two stores: Redis and the in-process stand-in behave the same."""

from __future__ import annotations

import asyncio

from service.store.base import Store


async def test_set_get_mget_delete(store: Store) -> None:
    """Values round-trip as bytes; mget keeps order and gives None for missing keys."""
    await store.set("a", b"1", 10)
    await store.set_many([("b", b"2", 10), ("c", b"3", 10)])
    assert await store.get("a") == b"1"
    assert await store.mget(["c", "missing", "a"]) == [b"3", None, b"1"]
    await store.delete("a", "b")
    assert await store.mget(["a", "b", "c"]) == [None, None, b"3"]
    assert await store.mget([]) == []


async def test_values_expire(store: Store) -> None:
    """A value is gone once its TTL has passed."""
    await store.set("short", b"x", 0.05)
    await store.set("long", b"y", 10)
    await asyncio.sleep(0.12)
    assert await store.mget(["short", "long"]) == [None, b"y"]


async def test_lease_is_exclusive_and_token_guarded(store: Store) -> None:
    """Only one holder at a time; only the holder's token renews or releases it."""
    assert await store.acquire(["{a}1", "{a}2"], "t1", 10) == [0, 0]
    got = await store.acquire(["{a}0", "{a}1", "{a}3"], "t2", 10)
    assert got[0] == 0 and 9 < got[1] <= 10 and got[2] == 0
    assert await store.release(["{a}1", "{a}2"], "t2") == 0
    assert await store.renew(["{a}1", "{a}3"], "t2", 10) == 1
    assert await store.renew(["{a}1", "{a}2"], "t1", 10) == 2
    assert await store.release(["{a}1", "{a}2", "{a}3"], "t1") == 2
    assert await store.acquire(["{a}1"], "t2", 10) == [0]


async def test_lease_expires(store: Store) -> None:
    """A lease whose holder vanished frees itself after its TTL."""
    assert await store.acquire(["lease"], "dead", 0.05) == [0]
    await asyncio.sleep(0.12)
    assert await store.acquire(["lease"], "alive", 10) == [0]


async def test_notify_wakes_watchers_of_that_key_only(store: Store) -> None:
    """A notification sets the events of watchers of its key, not of other keys."""
    async with store.watch("k1") as e1, store.watch("k2") as e2:
        await asyncio.sleep(0.05)  # let the Redis subscription settle
        await store.notify("k1")
        await asyncio.wait_for(e1.wait(), 2)
        assert not e2.is_set()


async def test_ping(store: Store) -> None:
    """A reachable store answers ping."""
    await store.ping()
