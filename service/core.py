"""The service's working parts, built once per process from settings.

The web app and the warmer both open the same core — store, upstream budget and client,
partitions, answers, popularity — so nothing about fetching or caching is written twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from service.analytics.answers import AnswerCache, HotAnswers
from service.analytics.intents import Intents
from service.analytics.open_parts import OpenParts
from service.analytics.partitions import Partitions
from service.analytics.service import Analytics
from service.config.settings import Secret, Settings
from service.fleet.budget import Budget
from service.fleet.flight import SingleFlight
from service.fleet.popularity import Popularity
from service.store.base import Store
from service.store.connect import open_store
from service.store.keys import Keys
from service.upstream.keycheck import KeyCheck
from service.upstream.voiceflow import VoiceflowClient
from simulator.app import SimulatorConfig, create_simulator_app

log = logging.getLogger(__name__)

EXECUTOR_THREADS = 4  # overview assembly; more would only fight over the GIL
DEMO_KEY = "VF.WS.demo-bundled-simulator"
UPSTREAM_CONNECTIONS = 32  # per process: bounds concurrent upstream connections


@dataclass(frozen=True, slots=True)
class Core:
    settings: Settings
    source: str  # "voiceflow" or "demo"
    keys: Keys
    store: Store
    executor: ThreadPoolExecutor
    budget: Budget
    client: VoiceflowClient
    flight: SingleFlight
    answers: AnswerCache
    analytics: Analytics
    popularity: Popularity
    open_parts: OpenParts  # what the warmer renews ahead of expiry
    keycheck: KeyCheck  # whether Voiceflow accepts the key, as readiness reports it


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Every part, opened in order and closed in reverse (only what was opened).

    So on the way out: the last popularity counts are flushed; background refreshes stop;
    flights still running are cancelled, which releases their leases and wakes their
    waiters in other processes; then the upstream session, the bundled simulator, the
    executor (shut down in a thread: its wait must not block the loop) and the store close.
    """
    source = "demo" if settings.demo else "voiceflow"
    keys = Keys(source)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings, keys))
        executor = ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="vfac-cpu")
        stack.push_async_callback(
            asyncio.to_thread, executor.shutdown, wait=True, cancel_futures=True
        )
        url, key = await stack.enter_async_context(upstream_endpoint(settings))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=UPSTREAM_CONNECTIONS, ttl_dns_cache=300)
            )
        )
        budget = Budget(
            store,
            key.reveal(),
            rate=settings.upstream_rate,
            burst=settings.upstream_burst,
            background_share=settings.upstream_background_share,
            max_wait=settings.upstream_max_wait,
            fallback_share=settings.upstream_fallback_share,
            rate_max=settings.upstream_rate_max,
        )
        client = VoiceflowClient(
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
        keycheck = KeyCheck(
            store,
            keys,
            client,
            key,
            interval=settings.upstream_key_check,
            projects=tuple(project.id for project in settings.warmer.projects),
        )
        stack.push_async_callback(keycheck.close)
        flight = SingleFlight(
            store,
            per_client=settings.upstream_cold_per_token,
            busy_retry_after=max(1.0, settings.upstream_max_wait),
        )
        stack.push_async_callback(flight.close)
        answers = AnswerCache(
            store,
            keys,
            flight,
            source,
            soft_ttl=settings.cache_ttl,
            hard_ttl=settings.cache_stale,
            hot=HotAnswers(settings.cache_local),
            max_wait=settings.upstream_max_wait,
            rate=budget.rate,
        )
        stack.push_async_callback(answers.close)
        partitions = Partitions(store, keys, client, settings, executor)
        intents = Intents(store, keys, client, flight, settings)
        popularity = Popularity(store, keys, half_life=settings.warmer.half_life)
        await stack.enter_async_context(popularity.flushing())
        yield Core(
            settings,
            source,
            keys,
            store,
            executor,
            budget,
            client,
            flight,
            answers,
            Analytics(partitions, intents, answers, executor),
            popularity,
            OpenParts(store, keys, partitions, intents),
            keycheck,
        )


@asynccontextmanager
async def upstream_endpoint(settings: Settings) -> AsyncIterator[tuple[str, Secret]]:
    """Voiceflow's URL and key; with no key, the bundled simulator on loopback instead."""
    if settings.voiceflow_api_key is not None:
        yield settings.voiceflow_url, settings.voiceflow_api_key
        return
    # One fixed key: the simulator is only on loopback, and processes sharing a Redis in demo
    # mode then share one upstream budget, as they would with a real key.
    key = Secret(DEMO_KEY)
    runner = web.AppRunner(
        create_simulator_app(SimulatorConfig(api_keys=(key.reveal(),)), control=False),
        access_log=None,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        log.info(
            "VOICEFLOW_API_KEY is not set: serving demo data from the bundled simulator at %s", url
        )
        yield url, key
    finally:
        await runner.cleanup()
