"""Opening the store a process runs on, from settings: the one place a store is dialled.

The web app and the warmer both open their store here, so the pool sizes and timeouts that
make a dead Redis cheap (a short timeout, no silent retries, then the in-process store)
are set once, for one Redis and for a Redis Cluster (REDIS_MODE) alike.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.config.settings import Settings
from service.store.base import Store, Watchers
from service.store.cluster import ClusterStore
from service.store.fallback import FallbackStore, Primary
from service.store.files import FileStore
from service.store.keys import Keys
from service.store.memory import MemoryStore
from service.store.postgres import PostgresStore
from service.store.redis import Pool, RedisStore

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds per command; Redis answers in well under 1 ms when healthy
REDIS_POOL_WAIT = 1.0  # seconds a burst queues for a connection before it queues again
REDIS_CONNECTIONS = 64  # per process; a burst queues for a connection instead of failing
REDIS_HEALTH_CHECK = 30  # seconds idle before a pooled connection is pinged on reuse


@asynccontextmanager
async def open_store(settings: Settings, keys: Keys) -> AsyncIterator[Store]:
    """The store the settings name, behind an in-process stand-in for while it is down: Redis,
    PostgreSQL, or the file store; with none named, the in-process store alone."""
    if not settings.shared_store and settings.cache_dir is None:
        log.info("no REDIS_URL, DATABASE_URL or CACHE_DIR: an in-process store (per process)")
        yield MemoryStore(max_bytes=_bound(settings))
        return
    watchers = Watchers()
    local = MemoryStore(watchers, max_bytes=_bound(settings))
    store = FallbackStore(_primary(settings, keys, watchers), local)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def _primary(settings: Settings, keys: Keys, watchers: Watchers) -> Primary:
    if settings.database_url is not None:
        return PostgresStore(
            settings.database_url.reveal(),
            keys.done_channel,
            watchers,
            pool_size=settings.database_pool_size,
        )
    if settings.cache_dir is not None:
        return FileStore(settings.cache_dir, watchers)
    assert settings.redis_url is not None
    url = settings.redis_url.reveal()
    if settings.redis_mode == "cluster":
        return ClusterStore(
            _cluster(url),
            keys.done_channel,
            watchers,
            permits=REDIS_CONNECTIONS,
            wait=REDIS_POOL_WAIT,
        )
    return RedisStore(aioredis.Redis(connection_pool=_pool(url)), keys.done_channel, watchers)


def _pool(url: str) -> Pool:
    return Pool.from_url(
        url,
        max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_POOL_WAIT,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        # No silent retries: a failing command switches to the in-process store at once.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=REDIS_HEALTH_CHECK,
    )


def _cluster(urls: str) -> RedisCluster:
    """A cluster client seeded with every node named (credentials and TLS from the first);
    it reads the map of slots from whichever answers first."""
    first, *others = urls.split(",")
    seeds = [urlsplit(url) for url in others]
    return RedisCluster.from_url(
        first,
        startup_nodes=[ClusterNode(s.hostname or "localhost", s.port or 6379) for s in seeds],
        # Per node; ClusterStore's permits keep commands in flight to REDIS_CONNECTIONS.
        max_connections=REDIS_CONNECTIONS * 2,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        # No silent retries, as for one Redis: a node down or a failover under way switches
        # to the in-process store at once (MOVED and ASK are still followed: not failures).
        retry=Retry(NoBackoff(), 0),
        # A MOVED updates that slot's owner only. redis-py re-reads the whole map every Nth
        # MOVED by closing every connection, the commands in flight on them included; the
        # map is re-read when the process goes back to the cluster after a failure instead.
        reinitialize_steps=0,
        health_check_interval=REDIS_HEALTH_CHECK,
    )


def _bound(settings: Settings) -> int:
    return int(settings.memory_store_mb * 1024 * 1024)
