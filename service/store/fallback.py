"""Redis while it answers, the in-process store while it does not.

A Redis that is down or slow must neither hang nor fail requests: each command has a short
timeout, and the first failure switches this process to its in-process store until a probe
finds Redis again. Nothing waits on a dead Redis twice. Meanwhile `degraded` is True, so
the upstream budget spends only this process's share (the budget decides that, not this).
An error Redis answers about one command (a WRONGTYPE, a script's error) is not "down": that
call alone is answered from the in-process store, and the process stays on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.store.leases import ScriptedLeases
from service.store.memory import MemoryStore
from service.store.redis import PoolBusy, RedisCommands
from service.store.script import Script, ScriptArg

log = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_EVERY = 1.0  # seconds between pings while degraded: recovery within about this long
# Releases made while degraded, given back on Redis when it answers again. Past this many the
# oldest go: their leases on Redis (15 s TTL, not renewed meanwhile) have lapsed by then.
OWED_RELEASES = 4096
# Unreachable, slow, or refusing writes (full under `noeviction`, a replica after failover):
# each means this process cannot use Redis now, so it goes degraded until a probe answers.
# A Redis Cluster's store raises its own of these (ClusterUnavailable, a ConnectionError) for
# a failover under way, slots moving or a node down, and PoolBusy for a busy process.
_DOWN = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    OSError,
    asyncio.TimeoutError,
)


class FallbackStore(ScriptedLeases):
    """Every primitive on Redis, or on the local store while degraded; leases and scripts
    alike go through `run`. It knows nothing of what the scripts do: a caller sharing a
    fleet-wide quota reads `degraded` and asks for its local share itself (see Budget)."""

    kind = "redis"

    def __init__(self, redis: RedisCommands[Any], local: MemoryStore) -> None:
        self._redis = redis
        self._local = local
        self._probe: asyncio.Task[None] | None = None
        self._owed: deque[tuple[list[str], str]] = deque(maxlen=OWED_RELEASES)
        self.degraded = False

    @property
    def primary(self) -> RedisCommands[Any]:
        """Redis itself, for what must never fall back (the warmer's leader lease)."""
        return self._redis

    async def _call(
        self, on_redis: Callable[[], Awaitable[T]], on_local: Callable[[], Awaitable[T]]
    ) -> T:
        while not self.degraded:
            try:
                return await on_redis()
            except PoolBusy:
                # Every connection in use for REDIS_POOL_WAIT: this process is busy (a burst
                # of cold asks), not Redis down. Queue again, unless the commands holding
                # them failed meanwhile and sent the process degraded.
                continue
            except _DOWN as exc:
                self._degrade(exc)
            except RedisError as exc:
                # Redis answered, with an error about this command (a WRONGTYPE, a script's
                # error): not a reason to leave Redis for every other command, nor a 500.
                # This one call is answered from the in-process store (a value it cannot read
                # is a miss, refetched and written over), and the error is logged.
                log.error("redis refused a command (%s: %s)", type(exc).__name__, exc)
                break
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
                # Connections left idle by the outage may be dead: on a restarted Redis each
                # would fail its next command and send the process back here, once per
                # connection. Nothing else uses them while degraded; reconnect them all.
                await self._redis.drop_idle_connections()
                await self._redis.ping()
                await self._release_owed()
            except (*_DOWN, PoolBusy):
                continue
            except Exception as exc:  # a client's bug mid-failover must not end the probing
                log.error("redis probe failed (%s: %s); probing on", type(exc).__name__, exc)
                continue
            log.warning("redis is back: leaving the in-process store")
            self._local.clear()  # what it held may be older than Redis's copy
            self.degraded = False
            return

    async def release(self, keys: Sequence[str], token: str) -> int:
        released = await super().release(keys, token)
        if self.degraded:
            # Released in memory only: a lease its holder took on Redis before the outage
            # still holds there, and would keep the fleet waiting out its TTL once Redis is
            # back. Owed to Redis until then (compare-and-delete: a lease since taken by
            # another holder is left alone).
            self._owed.append((list(keys), token))
        return released

    async def _release_owed(self) -> None:
        """Give back on Redis what was released while degraded, before anyone can wait on it
        (a waiter is woken by a notification, not by a lease lapsing)."""
        while self._owed:
            keys, token = self._owed[0]
            try:
                await self._redis.release(keys, token)
            except _DOWN:
                raise  # down again: the rest wait for the next probe
            except RedisError as exc:  # about this call alone: that lease lapses by itself
                log.error("redis refused a command (%s: %s)", type(exc).__name__, exc)
            self._owed.popleft()

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

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        return await self._call(
            lambda: self._redis.expires_in(keys), lambda: self._local.expires_in(keys)
        )

    async def delete(self, *keys: str) -> None:
        await self._call(lambda: self._redis.delete(*keys), lambda: self._local.delete(*keys))

    async def notify(self, key: str) -> None:
        # Local waiters are woken either way; other processes only through Redis.
        await self._call(lambda: self._redis.notify(key), lambda: self._local.notify(key))

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self._local.watch(key)  # both stores wake the same Watchers

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        return await self._call(
            lambda: self._redis.run(script, keys, args), lambda: self._local.run(script, keys, args)
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
