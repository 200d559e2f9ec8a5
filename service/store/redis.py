"""The Store protocol over Redis (redis-py asyncio, hiredis parser).

Plain commands for values, pub/sub for "done" notifications, and Scripts (each owner's
Lua) for everything that must touch several keys atomically. RedisCommands holds what one
Redis and a Redis Cluster (cluster.py) do alike; RedisStore is one Redis server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.store.base import Errors, Watchers, ms
from service.store.leases import ScriptedLeases
from service.store.script import Script, ScriptArg

log = logging.getLogger(__name__)

C = TypeVar("C", aioredis.Redis, RedisCluster)


class PoolBusy(RedisError):
    """Every connection of the pool stayed in use for its whole wait: this process is busy,
    which says nothing about Redis (redis-py calls it a ConnectionError, like a dead server)."""


class Pool(aioredis.BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if isinstance(exc.__cause__, asyncio.TimeoutError):  # the wait, not a connect
                raise PoolBusy("no connection of the pool came free in time") from exc
            raise


class RedisCommands(ScriptedLeases, Generic[C]):
    """The commands one Redis and a Redis Cluster run alike (in a cluster, each value's key
    goes to its slot's node; a pipeline is split per node, and is not a transaction either
    way). Each Script is registered once, on first use. What differs — reading several keys,
    notifying, pinging, reconnecting — is each store's own."""

    kind = "redis"
    degraded = False  # Redis itself; FallbackStore is what degrades
    # Unreachable, slow, or refusing writes (full under `noeviction`, a replica after
    # failover). A Redis Cluster's store raises its own of these (ClusterUnavailable, a
    # ConnectionError) for a failover under way, slots moving or a node down.
    DOWN: ClassVar[Errors] = (
        RedisConnectionError,
        RedisTimeoutError,
        ReadOnlyError,
        OSError,
        asyncio.TimeoutError,
    )
    BUSY: ClassVar[Errors] = (PoolBusy,)
    REFUSED: ClassVar[Errors] = (RedisError,)

    def __init__(self, client: C, channel: str, watchers: Watchers | None = None) -> None:
        self._r: C = client
        self._channel = channel
        self._scripts: dict[Script, AsyncScript] = {}
        self.watchers = watchers or Watchers()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False  # a listener stops at its next look, if a cancel was lost

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._r.get(key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._r.set(key, value, px=ms(ttl))

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        if not items:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for key, value, ttl in items:
                pipe.set(key, value, px=ms(ttl))
            await pipe.execute()

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        if not keys:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(key)
            replies = await pipe.execute()
        # PTTL: -2 when absent, -1 when the key never expires.
        return [None if ms == -2 else math.inf if ms == -1 else ms / 1000 for ms in replies]

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._r.delete(*keys)

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self.watchers.watch(key)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        registered = self._scripts.get(script)
        if registered is None:
            # EVALSHA by digest; redis-py loads the source once when the server lacks it.
            registered = self._scripts[script] = self._r.register_script(script.lua)
        return await registered(keys=list(keys), args=list(args))

    async def stop_listening(self) -> None:
        """Cancel the listener. redis-py can swallow a cancel that lands while a connect
        times out (asyncio.timeout's race on Python 3.11), so it also stops at its next look
        at `_closing`."""
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    @abstractmethod
    async def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...

    @abstractmethod
    async def notify(self, key: str) -> None: ...

    @abstractmethod
    async def ping(self) -> None: ...

    @abstractmethod
    async def drop_idle_connections(self) -> None:
        """Close the idle connections; each reconnects when next used. After an outage any
        of them may be dead (a restarted Redis closed it) without the client noticing until
        a command fails on it."""

    @abstractmethod
    async def start(self) -> None:
        """Subscribe once for every waiter of this process, before anyone can wait. A Redis
        that is down at start-up does not stop the process: the listener keeps trying."""

    @abstractmethod
    async def close(self) -> None: ...


class RedisStore(RedisCommands[aioredis.Redis]):
    """The Store protocol over one Redis server: plain PUBLISH / SUBSCRIBE."""

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return cast(list[bytes | None], await self._r.mget(keys))

    async def notify(self, key: str) -> None:
        await self._r.publish(self._channel, key)

    async def ping(self) -> None:
        await self._r.ping()

    async def drop_idle_connections(self) -> None:
        await self._r.connection_pool.disconnect(inuse_connections=False)

    async def start(self) -> None:
        pubsub: PubSub | None = None
        try:
            pubsub = await self._subscribe()
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            log.warning("redis unreachable at start-up (%s); will keep trying", exc)
        self._listener = asyncio.create_task(self._listen(pubsub), name="redis-store-listener")

    async def close(self) -> None:
        await self.stop_listening()
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
