"""The Store protocol over Redis (redis-py asyncio, hiredis parser)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

# Leases over several keys in one round trip. Keys of one call share a hash tag, so the
# scripts run on Redis Cluster too. Only the holder's token may extend or delete a lease.
_ACQUIRE = """
local got = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    got[i] = 0
  else
    got[i] = math.max(1, redis.call('PTTL', key))
  end
end
return got
"""
_RENEW = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]); n = n + 1 end
end
return n
"""
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key); n = n + 1 end
end
return n
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    kind = "redis"

    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self._r = client
        self._channel = channel
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._r.get(key))

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return cast(list[bytes | None], await self._r.mget(keys))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._r.set(key, value, px=_ms(ttl))

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        if not items:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for key, value, ttl in items:
                pipe.set(key, value, px=_ms(ttl))
            await pipe.execute()

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._r.delete(*keys)

    async def acquire(self, keys: Sequence[str], token: str, ttl: float) -> list[float]:
        left_ms = await self._acquire(keys=list(keys), args=[token, _ms(ttl)])
        return [ms / 1000 for ms in left_ms]

    async def renew(self, keys: Sequence[str], token: str, ttl: float) -> int:
        return int(await self._renew(keys=list(keys), args=[token, _ms(ttl)]))

    async def release(self, keys: Sequence[str], token: str) -> int:
        return int(await self._release(keys=list(keys), args=[token]))

    async def notify(self, key: str) -> None:
        await self._r.publish(self._channel, key)

    @contextlib.asynccontextmanager
    async def watch(self, key: str) -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        self._watchers.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            watchers = self._watchers[key]
            watchers.discard(event)
            if not watchers:
                del self._watchers[key]

    async def ping(self) -> None:
        await self._r.ping()

    async def start(self) -> None:
        """Subscribe once for every waiter of this process, before anyone can wait.

        A Redis that is down at start-up does not stop the process: the listener keeps
        trying, and readiness reports the store as failing meanwhile.
        """
        pubsub: PubSub | None = None
        try:
            pubsub = await self._subscribe()
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            log.warning("redis unreachable at start-up (%s); will keep trying", exc)
        self._listener = asyncio.create_task(self._listen(pubsub), name="redis-store-listener")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._r.aclose()

    async def _subscribe(self) -> PubSub:
        pubsub = self._r.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel)
        return pubsub

    async def _listen(self, pubsub: PubSub | None) -> None:
        while True:
            try:
                if pubsub is None:
                    pubsub = await self._subscribe()
                async for message in pubsub.listen():
                    key = message["data"].decode()
                    for event in self._watchers.get(key, ()):
                        event.set()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                # Waiters fall back to their own timeouts meanwhile; reconnect shortly.
                log.warning("redis pub/sub listener lost its connection (%s); retrying", exc)
                await asyncio.sleep(1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                pubsub = None
