"""The application factory: one `create_app(settings)`, resources in cleanup contexts."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import aiohttp
import aiohttp_cors
import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .analytics import Analytics
from .answers import AnswerCache, HotAnswers
from .budget import Budget
from .exports.pool import RenderPool
from .fallback_store import FallbackStore
from .flight import SingleFlight
from .keys import Keys
from .middlewares import api_token, problems
from .partitions import Partitions
from .redis_store import RedisStore
from .routes import setup_routes
from .settings import Secret, Settings
from .simulator.app import SimulatorConfig, create_simulator_app
from .store import MemoryStore, Watchers
from .typedefs import (
    ANALYTICS,
    EXECUTOR,
    EXPORTS,
    HTTP_SESSION,
    SETTINGS,
    SOURCE,
    STORE,
    UPSTREAM,
)
from .voiceflow import VoiceflowClient

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds per command; Redis answers in well under 1 ms when healthy
REDIS_POOL_WAIT = 1.0  # seconds a burst may queue for one of the pool's connections
REDIS_CONNECTIONS = 64  # per process; a burst queues for a connection instead of failing
EXECUTOR_THREADS = 4  # overview assembly; more would only fight over the GIL
EXPORT_RENDERS = 2  # export worker processes: renders at once; the rest queue briefly
UPSTREAM_CONNECTIONS = 32  # per process: bounds concurrent upstream requests


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[problems, api_token], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[SOURCE] = "demo" if settings.demo else "voiceflow"
    app.cleanup_ctx.extend([store_ctx, executor_ctx, exports_ctx, upstream_ctx, analytics_ctx])
    setup_routes(app)
    _setup_cors(app, settings.cors_origins)
    return app


@asynccontextmanager
async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    keys = Keys(app[SOURCE])
    if settings.redis_url is None:
        log.info("REDIS_URL is not set: using an in-process store (cache is per process)")
        app[STORE] = MemoryStore()
        yield
        return
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url.reveal(),
        max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_POOL_WAIT,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        # No silent retries: a failing command switches to the in-process store at once.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    watchers = Watchers()
    store = FallbackStore(
        RedisStore(aioredis.Redis(connection_pool=pool), keys.done_channel, watchers),
        MemoryStore(watchers),
        local_share=settings.upstream_fallback_share,
    )
    await store.start()
    app[STORE] = store
    try:
        yield
    finally:
        await store.close()


@asynccontextmanager
async def executor_ctx(app: web.Application) -> AsyncIterator[None]:
    executor = ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="vfac-cpu")
    app[EXECUTOR] = executor
    try:
        yield
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@asynccontextmanager
async def exports_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = RenderPool(EXPORT_RENDERS)
    app[EXPORTS] = pool
    try:
        yield
    finally:
        await pool.close()


@asynccontextmanager
async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Voiceflow client; with no API key, the bundled simulator on loopback behind it."""
    settings = app[SETTINGS]
    url, key = settings.voiceflow_url, settings.voiceflow_api_key
    runner: web.AppRunner | None = None
    if key is None:
        key = Secret(f"VF.WS.demo{secrets.token_hex(12)}")
        runner = web.AppRunner(
            create_simulator_app(SimulatorConfig(api_keys=(key.reveal(),)), control=False),
            access_log=None,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}"
        log.info(
            "VOICEFLOW_API_KEY is not set: serving demo data from the bundled simulator at %s", url
        )
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=UPSTREAM_CONNECTIONS, ttl_dns_cache=300),
        raise_for_status=False,
    )
    app[HTTP_SESSION] = session
    budget = Budget(
        app[STORE],
        key.reveal(),
        rate=settings.upstream_rate,
        burst=settings.upstream_burst,
        background_share=settings.upstream_background_share,
        max_wait=settings.upstream_max_wait,
    )
    app[UPSTREAM] = VoiceflowClient(
        session,
        url,
        key,
        timeout=settings.upstream_timeout,
        deadline=settings.upstream_deadline,
        max_retries=settings.upstream_max_retries,
        max_pages=settings.upstream_max_pages,
        budget=budget,
        concurrency=settings.upstream_concurrency,
    )
    try:
        yield
    finally:
        await session.close()
        if runner is not None:
            await runner.cleanup()


@asynccontextmanager
async def analytics_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store, keys = app[STORE], Keys(app[SOURCE])
    flight = SingleFlight(store)
    answers = AnswerCache(
        store,
        keys,
        flight,
        app[SOURCE],
        soft_ttl=settings.cache_ttl,
        hard_ttl=settings.cache_stale,
        hot=HotAnswers(settings.cache_local),
    )
    partitions = Partitions(store, keys, app[UPSTREAM], flight, settings)
    app[ANALYTICS] = Analytics(partitions, answers, app[EXECUTOR])
    try:
        yield
    finally:
        await answers.close()


def _setup_cors(app: web.Application, origins: tuple[str, ...]) -> None:
    if not origins:
        return
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False,
        allow_headers=("Content-Type", "Authorization", "If-None-Match"),
        expose_headers=(
            "X-Cache",
            "Age",
            "ETag",
            "Cache-Control",
            "Content-Disposition",
            "Retry-After",
        ),
        allow_methods=("GET", "POST"),
        max_age=600,
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(origins, options))
    for route in list(app.router.routes()):
        cors.add(route)
