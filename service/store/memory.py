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
from collections.abc import Callable, Sequence
from typing import Any

from service.store.base import Watchers
from service.store.keys import LEASE_SUFFIX
from service.store.leases import ScriptedLeases
from service.store.script import Script, ScriptArg, as_argv

SWEEP_EVERY = 1024  # writes between sweeps of expired keys: bounded memory, amortised cost
EVICT_TO = 0.9  # past its bound, the store evicts down to this share of it
ENTRY_OVERHEAD = 120  # bytes a dict entry, its tuple and the bytes object cost beyond the data


class KeySpace:
    """Values with expiries on a monotonic clock; the Space a twin works in.

    Bounded like a Redis with `maxmemory` and `allkeys-lru`: past `max_bytes` of stored
    values, the least recently used values go first (a dict keeps keys in the order they
    were last used). Only plain values count, and only cached ones go: leases, and the
    scripts' hashes and sorted sets (buckets, scores), are small and the fleet's state."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_bytes: int | None = None
    ) -> None:
        self._data: dict[str, tuple[object, float]] = {}  # key -> (value, expires at)
        self._clock = clock
        self._max = max_bytes
        self.used = 0  # bytes of plain values (and their keys) held

    def get(self, key: str) -> object | None:
        item = self._data.pop(key, None)
        if item is None:
            return None
        if item[1] <= self._clock():
            self.used -= _size(key, item[0])
            return None
        self._data[key] = item  # now the most recently used
        return item[0]

    def put(self, key: str, value: object, ttl: float | None = None) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self.used -= _size(key, old[0])
        self._data[key] = (value, math.inf if ttl is None else self._clock() + ttl)
        self.used += _size(key, value)
        if len(self._data) % SWEEP_EVERY == 0:
            self._sweep()
        if self._max is not None and self.used > self._max:
            self._evict(int(self._max * EVICT_TO))

    def delete(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self.used -= _size(key, item[0])

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
        for key in [k for k, (_, expires) in self._data.items() if expires <= now]:
            self.delete(key)

    def _evict(self, limit: int) -> None:
        """The least recently used plain values go until what is held fits in `limit` (below
        the bound, so that evicting is occasional, not a scan on every write past it)."""
        excess, doomed = self.used - limit, []
        for key, (value, _) in self._data.items():
            if excess <= 0:
                break
            if isinstance(value, bytes) and not key.endswith(LEASE_SUFFIX):
                doomed.append(key)
                excess -= _size(key, value)
        for key in doomed:
            self.delete(key)


def _size(key: str, value: object) -> int:
    """What a plain value costs the bound (its bytes, its key, a dict entry); others: 0."""
    return len(value) + len(key) + ENTRY_OVERHEAD if isinstance(value, bytes) else 0


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
