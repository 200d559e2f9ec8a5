"""Opening the store a process runs on, from settings: the one place Redis is dialled.

The web app and the warmer both open their store here, so the pool sizes and timeouts that
make a dead Redis cheap (a short timeout, no silent retries, then the in-process store)
are set once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.config.settings import Settings
from service.store.base import Store, Watchers
from service.store.fallback import FallbackStore
from service.store.keys import Keys
from service.store.memory import MemoryStore
from service.store.redis import Pool, RedisStore

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds per command; Redis answers in well under 1 ms when healthy
REDIS_POOL_WAIT = 1.0  # seconds a burst queues for a connection before it queues again
REDIS_CONNECTIONS = 64  # per process; a burst queues for a connection instead of failing
REDIS_HEALTH_CHECK = 30  # seconds idle before a pooled connection is pinged on reuse


@asynccontextmanager
async def open_store(settings: Settings, keys: Keys) -> AsyncIterator[Store]:
    """Redis (falling back to memory while it is down), or memory alone with no REDIS_URL."""
    if settings.redis_url is None:
        log.info("REDIS_URL is not set: using an in-process store (cache is per process)")
        yield MemoryStore(max_bytes=_bound(settings))
        return
    pool = Pool.from_url(
        settings.redis_url.reveal(),
        max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_POOL_WAIT,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        # No silent retries: a failing command switches to the in-process store at once.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=REDIS_HEALTH_CHECK,
    )
    watchers = Watchers()
    store = FallbackStore(
        RedisStore(aioredis.Redis(connection_pool=pool), keys.done_channel, watchers),
        MemoryStore(watchers, max_bytes=_bound(settings)),
    )
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def _bound(settings: Settings) -> int:
    return int(settings.memory_store_mb * 1024 * 1024)
