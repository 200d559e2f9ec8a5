"""The Store protocol over a Redis Cluster (redis-py's asyncio RedisCluster, REDIS_MODE=cluster).

What differs from one Redis (redis.py holds what does not):
- Several keys read at once: one MGET per slot, the slots' MGETs pipelined per node (keys of
  one range of days share a hash tag, so a range is still one MGET).
- Scripts: EVALSHA runs on the node of its keys' slot. Every Script keeps its keys in one
  slot (hash tags, keys.py); a call that would not is refused here, before it is sent, as an
  error about that call (a bug), never as the cluster being down.
- Notifications: sharded pub/sub. SPUBLISH goes to the shard owning the channel's slot only
  (a plain PUBLISH is broadcast to every node over the cluster bus), and the listener
  SSUBSCRIBEs on that shard's master, following the channel when its slot moves: on a
  failover its connection drops or the server sends SUNSUBSCRIBE, and a quiet second in
  which the client's map of slots names another owner has the same effect.
- Errors: a failover under way, a node down, slots moving — CLUSTERDOWN, TRYAGAIN, MOVED or
  ASK past redis-py's redirections, no node or slot map reachable — are ClusterUnavailable, a
  ConnectionError: "down", so the fallback store serves this process from memory until a
  probe finds every master answering again.
- Waiting for a connection: a node whose connections are all in use fails a command at once
  (redis-py's cluster has no blocking pool), so each command first takes one of as many
  permits as the standalone pool has connections, and a wait past the pool's is PoolBusy,
  as there: this process is busy, which says nothing about the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterError,
    MaxConnectionsError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from service.store.base import Watchers
from service.store.redis import PoolBusy, RedisCommands
from service.store.script import Script, ScriptArg

log = logging.getLogger(__name__)

# ClusterError: CLUSTERDOWN and MASTERDOWN, or redirections past redis-py's limit (a MOVED
# storm); TryAgainError: a multi-key command on a slot being moved; AskError (MovedError
# too): a redirection that escaped redis-py; RedisClusterException: no node answers, or the
# nodes' slot maps do not cover every slot (SlotNotCoveredError).
_UNAVAILABLE = (ClusterError, TryAgainError, AskError, RedisClusterException)
BUSY_PAUSE = 0.01  # a node's connection closing after an error frees up about this soon
RESUBSCRIBE_AFTER = 1.0  # seconds between attempts to subscribe while the shard is away
OWNER_CHECK = 1.0  # seconds of silence after which the listener looks: closing? slot moved?


class ClusterUnavailable(RedisConnectionError):
    """The cluster cannot serve this call now (a failover, a node down, slots moving)."""


class ClusterStore(RedisCommands[RedisCluster]):
    """The Store protocol over a Redis Cluster: each primitive takes a permit, and reports a
    cluster that cannot serve it as ClusterUnavailable."""

    def __init__(
        self,
        client: RedisCluster,
        channel: str,
        watchers: Watchers | None = None,
        *,
        permits: int,
        wait: float,
    ) -> None:
        super().__init__(client, channel, watchers)
        self._permits = asyncio.Semaphore(permits)
        self._wait = wait

    @contextlib.asynccontextmanager
    async def _command(self) -> AsyncIterator[None]:
        if self._permits.locked():
            try:
                async with asyncio.timeout(self._wait):
                    await self._permits.acquire()
            except TimeoutError:
                raise PoolBusy("no cluster connection came free in time") from None
        else:
            await self._permits.acquire()
        try:
            yield
        except MaxConnectionsError as exc:
            await asyncio.sleep(BUSY_PAUSE)  # then queue again (FallbackStore does)
            raise PoolBusy("every connection to a node in use") from exc
        except _UNAVAILABLE as exc:
            raise ClusterUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except (AttributeError, TypeError) as exc:
            # On CLUSTERDOWN, a slot not covered or a MOVED storm, redis-py closes every
            # connection to every node, those other commands are sending on too. A command
            # between its connection check and its write then finds no stream (None): the
            # cluster failing over, not a bug. The same errors raised anywhere else are.
            if not _raised_in_client(exc):
                raise
            raise ClusterUnavailable(f"connection closed under the command: {exc}") from exc
        finally:
            self._permits.release()

    async def get(self, key: str) -> bytes | None:
        async with self._command():
            return await super().get(key)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        async with self._command():
            return cast(list[bytes | None], await self._r.mget_nonatomic(keys))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        async with self._command():
            await super().set(key, value, ttl)

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        async with self._command():
            await super().set_many(items)

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        async with self._command():
            return await super().expires_in(keys)

    async def delete(self, *keys: str) -> None:
        async with self._command():
            await super().delete(*keys)  # one DEL per slot

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        if len({self._r.keyslot(key) for key in keys}) > 1:
            raise ClusterCrossSlotError(f"{script.name}: its keys are in several slots: {keys}")
        async with self._command():
            return await super().run(script, keys, args)

    async def notify(self, key: str) -> None:
        async with self._command():
            await self._r.spublish(self._channel, key)

    async def ping(self) -> None:
        """Every master answers: a cluster with one master down cannot serve its slots."""
        async with self._command():
            await self._r.ping(target_nodes=RedisCluster.PRIMARIES)

    async def drop_idle_connections(self) -> None:
        """Close every connection and read the map of slots again (after a failover it names
        the promoted replicas); each node reconnects when next used."""
        async with self._command():
            await self._r.aclose()
            await self._r.initialize()

    async def start(self) -> None:
        """Read the map of slots before any command can be sent: redis-py sends a command
        that comes before it to a random node (then follows the MOVED). A cluster down at
        start-up does not stop the process: its first command finds it down."""
        try:
            await self._r.initialize()
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("redis cluster unreachable at start-up (%s)", type(exc).__name__)
        self._listener = asyncio.create_task(self._listen(), name="redis-cluster-listener")

    async def close(self) -> None:
        await self.stop_listening()
        await self._r.aclose()

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow()
            except (RedisError, RedisClusterException, OSError) as exc:
                # Waiters fall back to their own timeouts meanwhile.
                log.warning(
                    "redis cluster pub/sub listener lost its shard (%s); resubscribing",
                    type(exc).__name__,
                )
            if self._closing:
                return
            await asyncio.sleep(RESUBSCRIBE_AFTER)
            with contextlib.suppress(RedisError, RedisClusterException, OSError):
                await self._r.nodes_manager.initialize()  # where the channel's slot is now

    async def _follow(self) -> None:
        """SSUBSCRIBE on the master owning the channel's slot; wake waiters until it moves."""
        await self._r.initialize()
        node = self._r.get_node_from_key(self._channel)
        assert node is not None  # a master, as asked (only a replica may be missing)
        pool = aioredis.ConnectionPool(
            connection_class=node.connection_class,
            retry=Retry(NoBackoff(), 0),  # a lost shard is followed, not retried in place
            **node.connection_kwargs,
        )
        client = aioredis.Redis(connection_pool=pool)
        pubsub = client.pubsub()
        try:
            await pubsub.ssubscribe(self._channel)
            while not self._closing:
                message = await pubsub.get_message(timeout=OWNER_CHECK)
                if message is None:
                    if self._r.get_node_from_key(self._channel) != node:
                        return  # the client's map moved the slot elsewhere
                elif message["type"] == "smessage":
                    self.watchers.wake(message["data"].decode())
                elif message["type"] == "sunsubscribe":
                    log.warning("redis cluster moved the notification channel; following it")
                    return
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose(close_connection_pool=True)


def _raised_in_client(exc: BaseException) -> bool:
    """Whether `exc` came out of redis-py's own code (a frame of its traceback is in it)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("redis."):
            return True
        tb = tb.tb_next
    return False
