"""The Store protocol over Redis (redis-py asyncio, hiredis parser)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from service.store.base import Watchers

if TYPE_CHECKING:
    from service.fleet.budget import BucketSpec
    from service.fleet.popularity import PopularitySpec

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

# A token bucket per budget, in one script with the time passed in (managed Redis services
# reject TIME in scripts). KEYS: total, background, paused-until. Times in ms, rates per ms.
# Answers 0 when a token was taken, else the ms to wait; nothing is taken then.
_TAKE = """
local now = tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[3]) or '0')
if paused > now then return paused - now end
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 't', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if not tokens then return burst, now end
  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) end
  return tokens, math.max(ts, now)
end
local rate, burst, background = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[7] == '1'
local total, total_ts = level(KEYS[1], rate, burst)
local need = 1
if background then need = 1 + tonumber(ARGV[6]) end
local wait = 0
if total < need then wait = math.ceil((need - total) / rate) end
local bg, bg_ts
if background then
  local bg_rate = tonumber(ARGV[4])
  bg, bg_ts = level(KEYS[2], bg_rate, tonumber(ARGV[5]))
  if bg < 1 then wait = math.max(wait, math.ceil((1 - bg) / bg_rate)) end
end
if wait > 0 then return wait end
local ttl = math.ceil(burst / rate) + 1000
redis.call('HSET', KEYS[1], 't', tostring(total - 1), 'ts', total_ts)
redis.call('PEXPIRE', KEYS[1], ttl)
if background then
  redis.call('HSET', KEYS[2], 't', tostring(bg - 1), 'ts', bg_ts)
  redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[5]) / tonumber(ARGV[4])) + 1000)
end
return 0
"""
_PAUSE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(1, tonumber(ARGV[2])))
end
return 0
"""

# Decaying popularity (see popularity.py). KEYS: scores, base. ARGV: now, half-life, keep,
# rescale-at, then member/count pairs. Rescaling moves the base when weights grow large.
_BUMP = """
local now, half_life = tonumber(ARGV[1]), tonumber(ARGV[2])
local base = tonumber(redis.call('GET', KEYS[2]) or '')
if not base then
  -- Scores without their base cannot be read: start over rather than misread them.
  redis.call('DEL', KEYS[1])
  base = now
  redis.call('SET', KEYS[2], ARGV[1])
end
local exponent = (now - base) / half_life
if exponent > tonumber(ARGV[4]) then
  local factor = math.pow(2, -exponent)
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    redis.call('ZADD', KEYS[1], tonumber(all[i + 1]) * factor, all[i])
  end
  redis.call('SET', KEYS[2], ARGV[1])
  exponent = 0
end
local weight = math.pow(2, exponent)
for i = 5, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], tonumber(ARGV[i + 1]) * weight, ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    kind = "redis"

    def __init__(
        self, client: aioredis.Redis, channel: str, watchers: Watchers | None = None
    ) -> None:
        self._r = client
        self._channel = channel
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._take = client.register_script(_TAKE)
        self._pause = client.register_script(_PAUSE)
        self._bump = client.register_script(_BUMP)
        self.watchers = watchers or Watchers()
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

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self.watchers.watch(key)

    async def take_token(self, spec: BucketSpec, now: float, background: bool) -> float:
        wait_ms = await self._take(
            keys=[spec.total, spec.background, spec.pause],
            args=[
                int(now * 1000),
                spec.rate / 1000,
                spec.burst,
                spec.bg_rate / 1000,
                spec.bg_burst,
                spec.reserve,
                1 if background else 0,
            ],
        )
        return float(wait_ms) / 1000

    async def pause_until(self, key: str, until: float) -> None:
        until_ms = int(until * 1000)
        await self._pause(keys=[key], args=[until_ms, until_ms - int(time.time() * 1000)])

    async def bump_scores(self, spec: PopularitySpec, counts: dict[str, int], now: float) -> None:
        args: list[str | float | int] = [now, spec.half_life, spec.keep, spec.rescale_at]
        for name, count in counts.items():
            args += [name, count]
        await self._bump(keys=[spec.scores, spec.base], args=args)

    async def top_scores(
        self, spec: PopularitySpec, k: int
    ) -> tuple[float, list[tuple[str, float]]]:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.get(spec.base)
            pipe.zrevrange(spec.scores, 0, k - 1, withscores=True)
            base, scored = await pipe.execute()
        return float(base or 0.0), [(name.decode(), float(score)) for name, score in scored]

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
        await self._r.aclose(close_connection_pool=True)  # the pool was passed in

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
                    self.watchers.wake(message["data"].decode())
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                # Waiters fall back to their own timeouts meanwhile; reconnect shortly.
                log.warning("redis pub/sub listener lost its connection (%s); retrying", exc)
                await asyncio.sleep(1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                pubsub = None
