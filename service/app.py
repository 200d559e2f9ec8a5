"""The application factory: one `create_app(settings)`, and the lifecycle of what it runs."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp_cors
from aiohttp import web

from service.config.settings import Settings
from service.config.worker import ALONE, Worker
from service.core import open_core
from service.exports.pool import RenderPool
from service.http.appkeys import ANALYTICS, CORE, EXPORTS, SETTINGS, SOURCE, STORE, WORKER
from service.http.ops import sampler as ops_sampler
from service.http.routes import observe_routes, setup_routes
from warmer.scheduler import Warmer

log = logging.getLogger(__name__)

EXPORT_RENDERS = 2  # export worker processes: renders at once; the rest queue briefly


def create_app(settings: Settings, worker: Worker = ALONE) -> web.Application:
    """The web app; `worker` is its slot when it is one of a host's WEB_CONCURRENCY."""
    # No middleware: each route's handler is observed instead (http/access.py), so aiohttp
    # builds no middleware chain for any request.
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SOURCE] = "demo" if settings.demo else "voiceflow"
    app[WORKER] = worker
    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(ops_sampler)  # after lifecycle: it reads the core's budget
    app.cleanup_ctx.append(settled_heap)  # last: everything start-up made is made
    setup_routes(app)
    _setup_cors(app, settings.cors_origins)
    observe_routes(app)  # last: every route, CORS's preflights included
    return app


@asynccontextmanager
async def lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Everything the web process runs, opened in this order and closed in reverse, each
    part only if it was opened.

    aiohttp first stops listening and gives requests in progress up to the shutdown timeout;
    then, in order: the export renders under way finish; the embedded warmer starts no new
    run and its run under way is awaited; then the core (see `open_core`) cancels flights
    still running, releasing their leases, and closes the upstream session, the executor
    (off the loop) and the store.
    """
    settings = app[SETTINGS]
    async with AsyncExitStack() as stack:
        core = await stack.enter_async_context(open_core(settings))
        app[CORE], app[STORE], app[ANALYTICS] = core, core.store, core.analytics
        if not settings.shared_store and settings.warmer_embedded:
            # No shared store, so no fleet: this process warms its own cache, as
            # `python -m warmer` would.
            log.info("no shared store (REDIS_URL, DATABASE_URL): the warmer runs in this process")
            await stack.enter_async_context(Warmer(core).running())
        pool = RenderPool(EXPORT_RENDERS)
        stack.push_async_callback(pool.close)
        app[EXPORTS] = pool
        yield


@asynccontextmanager
async def settled_heap(app: web.Application) -> AsyncIterator[None]:
    """Leave what start-up made (modules, the app, the core: some 60,000 objects) out of
    the garbage collector's full collections. Each full collection walks every tracked
    object with the loop stopped; start-up's alone took 17 ms, and they never die anyway.
    Frozen objects are still freed by reference counting; only cycles among them wait."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
