"""The in-process store: the embedded default, single-process use, and Redis's stand-in.

One key space of Python values with expiries, as in Redis: plain values are bytes, and a
Script's twin keeps whatever its keys hold (a hash, a sorted set) in the same space, so
deleting or clearing a key works whatever it holds. Scripts run as their twins.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from service import metrics
from service.store.base import Watchers
from service.store.keys import LEASE_SUFFIX
from service.store.leases import ScriptedLeases
from service.store.script import Script, ScriptArg, as_argv

SWEEP_EVERY = 1024  # writes between sweeps of expired keys: bounded memory, amortised cost
EVICT_TO = 0.9  # past its bound, the store evicts down to this share of it
ENTRY_OVERHEAD = 250  # bytes a key's entry, its tuple, key and value objects cost beyond data
MEMBER_OVERHEAD = 100  # bytes a sorted set's member costs beyond its text (str, int, slot)


class KeySpace:
    """Values with expiries on a monotonic clock; the Space a twin works in.

    Bounded like a Redis with `maxmemory` and `volatile-lru`: past `max_bytes`, the least
    recently used values that expire go first (a dict keeps keys in the order they were last
    used): cached bytes, and the catalogues (sorted sets of hints, as large as what they
    list). Leases stay, and so does what never expires (popularity scores): the fleet's
    state. Each value's cost is reckoned once, when it is put."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_bytes: int | None = None
    ) -> None:
        self._data: dict[str, tuple[object, float, int]] = {}  # key -> (value, expires, cost)
        self._clock = clock
        self._max = max_bytes
        self.used = 0  # bytes held, as _size reckons them
        self.evicted = 0  # keys evicted to stay within the bound, ever
        _SPACES.add(self)

    def get(self, key: str) -> object | None:
        item = self._data.pop(key, None)
        if item is None:
            return None
        if item[1] <= self._clock():
            self.used -= item[2]
            return None
        self._data[key] = item  # now the most recently used
        return item[0]

    def put(self, key: str, value: object, ttl: float | None = None) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self.used -= old[2]
        cost = _size(key, value)
        self._data[key] = (value, math.inf if ttl is None else self._clock() + ttl, cost)
        self.used += cost
        if len(self._data) % SWEEP_EVERY == 0:
            self._sweep()
        if self._max is not None and self.used > self._max:
            self._evict(int(self._max * EVICT_TO))

    def delete(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self.used -= item[2]

    def ttl(self, key: str) -> float | None:
        if self.get(key) is None:
            return None
        left = self._data[key][1] - self._clock()
        return None if left == math.inf else left

    def clear(self) -> None:
        self._data.clear()
        self.used = 0

    def _sweep(self) -> None:
        """Drop expired values so the dict cannot grow with dead keys."""
        now = self._clock()
        for key in [k for k, (_, expires, _) in self._data.items() if expires <= now]:
            self.delete(key)

    def _evict(self, limit: int) -> None:
        """The least recently used values that expire go until what is held fits in `limit`
        (below the bound, so that evicting is occasional, not a scan on every write past it);
        leases stay."""
        excess, doomed = self.used - limit, []
        for key, (_, expires, cost) in self._data.items():
            if excess <= 0:
                break
            if cost and expires != math.inf and not key.endswith(LEASE_SUFFIX):
                doomed.append(key)
                excess -= cost
        for key in doomed:
            self.delete(key)
        self.evicted += len(doomed)

    def usage(self) -> Usage:
        return Usage(self.used, self._max or 0, len(self._data), self.evicted)


class Usage(NamedTuple):
    """What in-process stores hold: bytes as the bound reckons them, the bound (0: none),
    keys (expired ones not yet swept included), and keys evicted so far."""

    used: int
    limit: int
    keys: int
    evicted: int


_SPACES: weakref.WeakSet[KeySpace] = weakref.WeakSet()


def usage() -> Usage:
    """Every in-process store of this process together (the embedded store, or the one
    standing in while Redis is down): what /metrics exports."""
    each = [space.usage() for space in list(_SPACES)]
    return (
        Usage(*(sum(column) for column in zip(*each, strict=True))) if each else Usage(0, 0, 0, 0)
    )


def _size(key: str, value: object) -> int:
    """What a value costs the bound: bytes and their key and entry; a sorted set (a dict of
    member -> score) its members and theirs. Others (a bucket, a lease's token) are small."""
    if isinstance(value, bytes):
        return len(value) + len(key) + ENTRY_OVERHEAD
    if isinstance(value, dict):
        return len(key) + ENTRY_OVERHEAD + sum(len(m) + MEMBER_OVERHEAD for m in value)
    return 0


class MemoryStore(ScriptedLeases):
    """The Store protocol in this process's memory."""

    kind = "memory"
    degraded = False  # it is the whole store, not a stand-in for Redis

    def __init__(self, watchers: Watchers | None = None, max_bytes: int | None = None) -> None:
        self._space = KeySpace(max_bytes=max_bytes)
        self.watchers = watchers or Watchers()

    async def get(self, key: str) -> bytes | None:
        value = self._space.get(key)
        if value is None or isinstance(value, bytes):
            return value
        # As Redis answers a GET of a hash or sorted set: a caller's bug, not a miss.
        raise TypeError(f"WRONGTYPE: {key} holds a {type(value).__name__}, not a value")

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        values = (self._space.get(k) for k in keys)
        return [v if isinstance(v, bytes) else None for v in values]  # MGET: nil, not error

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._space.put(key, value, ttl)

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        for key, value, ttl in items:
            self._space.put(key, value, ttl)

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        return [self._expires_in(k) for k in keys]

    def _expires_in(self, key: str) -> float | None:
        if self._space.get(key) is None:
            return None
        left = self._space.ttl(key)
        return math.inf if left is None else left

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._space.delete(key)

    async def notify(self, key: str) -> None:
        self.watchers.wake(key)

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self.watchers.watch(key)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        return script.twin(self._space, list(keys), as_argv(args))

    async def ping(self) -> None:
        return None

    def clear(self) -> None:
        """Forget everything (what it held may be older than Redis's copy)."""
        self._space.clear()


metrics.MEMORY_STORE.reader = usage
