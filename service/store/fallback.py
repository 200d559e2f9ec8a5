"""Redis while it answers, the in-process store while it does not.

A Redis that is down or slow must neither hang nor fail requests: each command has a short
timeout, and the first failure switches this process to its in-process store (and to its
own share of the upstream budget) until a probe finds Redis again. Nothing waits on a dead
Redis twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.fleet.budget import BucketSpec
from service.fleet.popularity import PopularitySpec
from service.store.base import MemoryStore
from service.store.redis import RedisStore

log = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_EVERY = 1.0  # seconds between pings while degraded: recovery within about this long
# Unreachable, slow, or refusing writes (full under `noeviction`, a replica after failover):
# each means this process cannot use Redis now. Any other Redis error is one too, rather than
# a 500 for the client; it is logged with its class.
_DOWN = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    RedisError,
    OSError,
    asyncio.TimeoutError,
)


class FallbackStore:
    kind = "redis"

    def __init__(self, redis: RedisStore, local: MemoryStore, *, local_share: float) -> None:
        self._redis = redis
        self._local = local
        self._local_share = local_share
        self._probe: asyncio.Task[None] | None = None
        self.degraded = False

    @property
    def primary(self) -> RedisStore:
        """Redis itself, for what must never fall back (the warmer's leader lease)."""
        return self._redis

    async def _call(
        self, on_redis: Callable[[], Awaitable[T]], on_local: Callable[[], Awaitable[T]]
    ) -> T:
        if not self.degraded:
            try:
                return await on_redis()
            except _DOWN as exc:
                self._degrade(exc)
        return await on_local()

    def _degrade(self, exc: BaseException) -> None:
        if self.degraded:
            return
        log.error(
            "redis unreachable (%s): serving from the in-process store until it is back",
            type(exc).__name__,
        )
        self.degraded = True
        self._probe = asyncio.create_task(self._recover(), name="redis-probe")

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(PROBE_EVERY)
            try:
                await self._redis.ping()
            except _DOWN:
                continue
            log.warning("redis is back: leaving the in-process store")
            self._local.clear()  # what it held may be older than Redis's copy
            self.degraded = False
            return

    async def get(self, key: str) -> bytes | None:
        return await self._call(lambda: self._redis.get(key), lambda: self._local.get(key))

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._call(lambda: self._redis.mget(keys), lambda: self._local.mget(keys))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(
            lambda: self._redis.set(key, value, ttl), lambda: self._local.set(key, value, ttl)
        )

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        await self._call(lambda: self._redis.set_many(items), lambda: self._local.set_many(items))

    async def delete(self, *keys: str) -> None:
        await self._call(lambda: self._redis.delete(*keys), lambda: self._local.delete(*keys))

    async def acquire(self, keys: Sequence[str], token: str, ttl: float) -> list[float]:
        return await self._call(
            lambda: self._redis.acquire(keys, token, ttl),
            lambda: self._local.acquire(keys, token, ttl),
        )

    async def renew(self, keys: Sequence[str], token: str, ttl: float) -> int:
        return await self._call(
            lambda: self._redis.renew(keys, token, ttl), lambda: self._local.renew(keys, token, ttl)
        )

    async def release(self, keys: Sequence[str], token: str) -> int:
        return await self._call(
            lambda: self._redis.release(keys, token), lambda: self._local.release(keys, token)
        )

    async def notify(self, key: str) -> None:
        # Local waiters are woken either way; other processes only through Redis.
        await self._call(lambda: self._redis.notify(key), lambda: self._local.notify(key))

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self._local.watch(key)  # both stores wake the same Watchers

    async def take_token(self, spec: BucketSpec, now: float, background: bool) -> float:
        local = dataclasses.replace(
            spec, rate=spec.rate * self._local_share, bg_rate=spec.bg_rate * self._local_share
        )
        return await self._call(
            lambda: self._redis.take_token(spec, now, background),
            lambda: self._local.take_token(local, now, background),
        )

    async def pause_until(self, key: str, until: float) -> None:
        await self._call(
            lambda: self._redis.pause_until(key, until), lambda: self._local.pause_until(key, until)
        )

    async def bump_scores(self, spec: PopularitySpec, counts: dict[str, int], now: float) -> None:
        await self._call(
            lambda: self._redis.bump_scores(spec, counts, now),
            lambda: self._local.bump_scores(spec, counts, now),
        )

    async def top_scores(
        self, spec: PopularitySpec, k: int
    ) -> tuple[float, list[tuple[str, float]]]:
        return await self._call(
            lambda: self._redis.top_scores(spec, k), lambda: self._local.top_scores(spec, k)
        )

    async def ping(self) -> None:
        """Never fails: a Redis that does not answer switches this process to degraded."""
        await self._call(self._redis.ping, self._local.ping)

    async def start(self) -> None:
        await self._redis.start()

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._redis.close()
