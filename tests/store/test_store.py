"""One contract, two stores: Redis and the in-process stand-in behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.store.base import Store
from service.store.memory import ENTRY_OVERHEAD, MEMBER_OVERHEAD, KeySpace
from service.store.script import Script, Space


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


async def test_expires_in_tells_the_time_left(store: Store) -> None:
    """Seconds left per key; None for a missing or expired key."""
    await store.set_many([("soon", b"x", 0.05), ("later", b"y", 30)])
    soon, later, missing = await store.expires_in(["soon", "later", "missing"])
    assert soon is not None and 0 < soon <= 0.05
    assert later is not None and 29 < later <= 30
    assert missing is None
    await asyncio.sleep(0.12)
    assert await store.expires_in(["soon"]) == [None]
    assert await store.expires_in([]) == []


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


def _swap_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> list[object]:
    old = space.get(keys[0])
    space.put(keys[0], argv[0].encode(), int(argv[1]) / 1000)
    return [old, len(argv), argv[2].encode()]


# Sets a value, answering the old one (nil inside a table is Lua's false), ARGV's length,
# and its third argument as Lua saw it.
SWAP = Script(
    "test.swap",
    """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {old, #ARGV, ARGV[3]}
""",
    _swap_twin,
)


async def test_run_passes_strings_and_replies_in_redis_shapes(store: Store) -> None:
    """A script sees its arguments as strings and replies with None, int, bytes and lists,
    whichever store runs it; what it writes, plain reads see, and it expires."""
    assert await store.run(SWAP, ["{s}k"], ["v1", 50, 2.5]) == [None, 3, b"2.5"]
    assert await store.run(SWAP, ["{s}k"], ["v2", 50, 7]) == [b"v1", 3, b"7"]
    assert await store.get("{s}k") == b"v2"
    await asyncio.sleep(0.12)
    assert await store.get("{s}k") is None


async def test_plain_stores_are_never_degraded(store: Store) -> None:
    """Only the fallback store stands in for Redis; the others report they do not."""
    assert store.degraded is False


def test_the_in_process_store_is_bounded_least_recently_used_first() -> None:
    """Past its bound, the least recently used values go; the scripts' state stays."""
    space = KeySpace(max_bytes=10 * (1000 + ENTRY_OVERHEAD + 2) + 300)
    space.put("h0", object())  # a script's hash: never evicted, not counted
    space.put("day:lease", b"t", 60)  # the least recently used of all, but a lease: kept
    for n in range(10):
        space.put(f"k{n}", b"x" * 1000, 60)
    assert space.get("k0") == b"x" * 1000  # k0 is now the most recently used
    space.put("k10", b"y" * 1000, 60)  # over the bound: evicts down to 90% of it
    assert space.get("k1") is None and space.get("k2") is None  # the least recently used
    assert space.get("k0") is not None and space.get("k10") is not None
    assert space.get("h0") is not None and space.get("day:lease") == b"t"
    assert space.usage() == (space.used, 10 * (1000 + ENTRY_OVERHEAD + 2) + 300, 11, 2)
    space.delete("day:lease")
    assert space.used <= 10 * (1000 + ENTRY_OVERHEAD + 2) + 300
    space.delete("k0")
    space.put("k10", b"z", 60)  # replaced: counted once, at its new size
    assert space.used == sum(
        len(k) + 1000 + ENTRY_OVERHEAD for k in ("k3", "k4", "k5", "k6", "k7", "k8", "k9")
    ) + (3 + 1 + ENTRY_OVERHEAD)


def test_the_bound_counts_catalogues_and_evicts_them_but_not_what_never_expires() -> None:
    """A catalogue (a sorted set of hints, with an expiry) costs its members and may go;
    popularity scores (no expiry) stay, whatever they cost; a mutated set is reckoned anew."""
    members = {f"member-{i:04d}": i for i in range(100)}
    cost = len("cat") + ENTRY_OVERHEAD + sum(len(m) + MEMBER_OVERHEAD for m in members)
    space = KeySpace(max_bytes=3 * cost + 3)  # "scores" is 3 characters longer than "cat"
    space.put("scores", dict(members))  # no expiry: the fleet's state
    space.put("cat", dict(members), 60)
    assert space.used == 2 * cost + 3
    grown = {**members, "member-0100": 100}
    space.put("cat", grown, 60)  # recorded again, larger: counted at its new size only
    assert space.used == 2 * cost + 3 + len("member-0100") + MEMBER_OVERHEAD
    space.put("cat2", dict(members), 60)
    space.put("cat3", dict(members), 60)  # past the bound: the oldest catalogue goes
    assert space.get("cat") is None
    assert space.get("scores") is not None and space.get("cat3") is not None
    assert space.used <= 3 * cost + 3


async def test_metrics_export_what_the_in_process_stores_hold() -> None:
    """/metrics reads every live in-process store of the process: bytes, bound, keys and
    the evictions so far (Prometheus's text, parsed back)."""
    before = _memory_store_samples()
    space = KeySpace(max_bytes=3 * (100 + ENTRY_OVERHEAD + 2))
    for n in range(4):
        space.put(f"k{n}", b"x" * 100, 60)
    after = _memory_store_samples()
    assert after["vfac_memory_store_bytes"] - before["vfac_memory_store_bytes"] == space.used
    # The fourth put passed the bound: evicted down to 90% of it, two entries.
    assert after["vfac_memory_store_keys"] - before["vfac_memory_store_keys"] == 2
    assert (
        after["vfac_memory_store_evictions_total"] - before["vfac_memory_store_evictions_total"]
        == 2
    )
    assert after["vfac_memory_store_limit_bytes"] - before["vfac_memory_store_limit_bytes"] == (
        3 * (100 + ENTRY_OVERHEAD + 2)
    )


def _memory_store_samples() -> dict[str, float]:
    text = generate_latest(metrics.REGISTRY).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("vfac_memory_store")
        for sample in family.samples
    }
