"""The shared store: Redis in production, an in-process stand-in with the same behaviour.

Both speak one small protocol — bytes values with TTLs, leases with tokens, and a
"this key is done" notification — and one contract test suite runs against both.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from service.fleet.budget import BucketSpec
    from service.fleet.popularity import PopularitySpec


class Store(Protocol):
    kind: str  # "redis" or "memory", shown in /health

    async def get(self, key: str) -> bytes | None: ...

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def acquire(self, keys: Sequence[str], token: str, ttl: float) -> list[float]:
        """SET NX with a TTL on each lease. Per key: 0.0 where this caller now holds it,
        else the seconds the other holder's lease has left (how long a waiter may wait)."""

    async def renew(self, keys: Sequence[str], token: str, ttl: float) -> int:
        """Extend the leases `token` still holds; how many it still holds."""

    async def release(self, keys: Sequence[str], token: str) -> int:
        """Delete the leases `token` still holds (compare-and-delete); how many it held."""

    async def notify(self, key: str) -> None:
        """Tell every process waiting on `key` that its computation finished."""

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        """An event set when `key` is notified; enter it before checking, to miss nothing."""

    async def take_token(self, spec: BucketSpec, now: float, background: bool) -> float:
        """Take one upstream token: 0.0 when granted, else seconds to wait (nothing taken)."""

    async def pause_until(self, key: str, until: float) -> None:
        """Move the shared "paused until" time forward to `until` (never back)."""

    async def bump_scores(self, spec: PopularitySpec, counts: dict[str, int], now: float) -> None:
        """Add decaying popularity to members, then trim the set to its most popular."""

    async def top_scores(
        self, spec: PopularitySpec, k: int
    ) -> tuple[float, list[tuple[str, float]]]:
        """The base time and the k highest stored scores, highest first."""

    async def ping(self) -> None: ...


class Watchers:
    """Events of the waiters in this process, per key. Stores that stand in for each other
    share one, so a waiter is woken whichever of them delivers the notification."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    def wake(self, key: str) -> None:
        for event in self._events.get(key, ()):
            event.set()

    @contextlib.asynccontextmanager
    async def watch(self, key: str) -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        self._events.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            events = self._events[key]
            events.discard(event)
            if not events:
                del self._events[key]


class MemoryStore:
    """In-process store for the embedded default and for single-process use."""

    kind = "memory"

    def __init__(self, watchers: Watchers | None = None) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self.watchers = watchers or Watchers()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (level, updated at)
        self._scores: dict[str, dict[str, float]] = {}  # popularity sets
        self._bases: dict[str, float] = {}
        self._clock = time.monotonic

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._live(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._data[key] = (value, self._clock() + ttl)
        if len(self._data) % 1024 == 0:
            self._sweep()

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        for key, value, ttl in items:
            await self.set(key, value, ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:  # one key space, as in Redis, whatever the value's type
            for space in (self._data, self._buckets, self._scores, self._bases):
                space.pop(key, None)

    async def acquire(self, keys: Sequence[str], token: str, ttl: float) -> list[float]:
        got = []
        now = self._clock()
        for key in keys:
            if self._live(key) is None:
                self._data[key] = (token.encode(), now + ttl)
                got.append(0.0)
            else:
                got.append(max(0.001, self._data[key][1] - now))
        return got

    async def renew(self, keys: Sequence[str], token: str, ttl: float) -> int:
        held = [k for k in keys if self._live(k) == token.encode()]
        for key in held:
            self._data[key] = (token.encode(), self._clock() + ttl)
        return len(held)

    async def release(self, keys: Sequence[str], token: str) -> int:
        held = [k for k in keys if self._live(k) == token.encode()]
        for key in held:
            del self._data[key]
        return len(held)

    async def notify(self, key: str) -> None:
        self.watchers.wake(key)

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self.watchers.watch(key)

    def clear(self) -> None:
        self._data.clear()
        self._buckets.clear()
        self._scores.clear()
        self._bases.clear()

    async def take_token(self, spec: BucketSpec, now: float, background: bool) -> float:
        paused = self._buckets.get(spec.pause, (0.0, 0.0))[0]
        if paused > now:
            return paused - now
        total = _level(self._buckets.get(spec.total), now, spec.rate, spec.burst)
        wait = 0.0
        need = 1 + (spec.reserve if background else 0)
        if total < need:
            wait = (need - total) / spec.rate
        if background:
            bg = _level(self._buckets.get(spec.background), now, spec.bg_rate, spec.bg_burst)
            if bg < 1:
                wait = max(wait, (1 - bg) / spec.bg_rate)
        if wait > 0:
            return wait
        self._buckets[spec.total] = (total - 1, now)
        if background:
            self._buckets[spec.background] = (bg - 1, now)
        return 0.0

    async def pause_until(self, key: str, until: float) -> None:
        current = self._buckets.get(key, (0.0, 0.0))[0]
        self._buckets[key] = (max(current, until), until)

    async def bump_scores(self, spec: PopularitySpec, counts: dict[str, int], now: float) -> None:
        if spec.base not in self._bases:
            self._scores.pop(spec.scores, None)  # scores without their base cannot be read
        scores = self._scores.setdefault(spec.scores, {})
        base = self._bases.setdefault(spec.base, now)
        exponent = (now - base) / spec.half_life
        if exponent > spec.rescale_at:
            factor = 2.0**-exponent
            for name in scores:
                scores[name] *= factor
            self._bases[spec.base], exponent = now, 0.0
        weight = 2.0**exponent
        for name, count in counts.items():
            scores[name] = scores.get(name, 0.0) + count * weight
        if len(scores) > spec.keep:
            # Lowest first, ties by name: the order Redis's ZREMRANGEBYRANK drops them in.
            for name in sorted(scores, key=lambda n: (scores[n], n))[: len(scores) - spec.keep]:
                del scores[name]

    async def top_scores(
        self, spec: PopularitySpec, k: int
    ) -> tuple[float, list[tuple[str, float]]]:
        scores = self._scores.get(spec.scores, {})
        # Highest first, ties by name descending: ZREVRANGE's order.
        best = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k]
        return self._bases.get(spec.base, 0.0), best

    async def ping(self) -> None:
        return None

    def _sweep(self) -> None:
        """Drop expired values so the dict cannot grow with dead keys."""
        now = self._clock()
        for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
            del self._data[key]


def _level(bucket: tuple[float, float] | None, now: float, rate: float, burst: float) -> float:
    """Tokens in a bucket at `now`: full when new, refilled at `rate` up to `burst`."""
    if bucket is None:
        return burst
    tokens, updated = bucket
    return min(burst, tokens + max(0.0, now - updated) * rate)
