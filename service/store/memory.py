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
from service.store.leases import ScriptedLeases
from service.store.script import Script, ScriptArg, as_argv

SWEEP_EVERY = 1024  # writes between sweeps of expired keys: bounded memory, amortised cost


class KeySpace:
    """Values with expiries on a monotonic clock; the Space a twin works in."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[object, float]] = {}  # key -> (value, expires at)
        self._clock = clock

    def get(self, key: str) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    def put(self, key: str, value: object, ttl: float | None = None) -> None:
        self._data[key] = (value, math.inf if ttl is None else self._clock() + ttl)
        if len(self._data) % SWEEP_EVERY == 0:
            self._sweep()

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def ttl(self, key: str) -> float | None:
        if self.get(key) is None:
            return None
        left = self._data[key][1] - self._clock()
        return None if left == math.inf else left

    def clear(self) -> None:
        self._data.clear()

    def _sweep(self) -> None:
        """Drop expired values so the dict cannot grow with dead keys."""
        now = self._clock()
        for key in [k for k, (_, expires) in self._data.items() if expires <= now]:
            del self._data[key]


class MemoryStore(ScriptedLeases):
    """The Store protocol in this process's memory."""

    kind = "memory"
    degraded = False  # it is the whole store, not a stand-in for Redis

    def __init__(self, watchers: Watchers | None = None) -> None:
        self._space = KeySpace()
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
