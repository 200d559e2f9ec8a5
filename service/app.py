"""The application factory: one `create_app(settings)`, resources in cleanup contexts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp_cors
from aiohttp import web

from service.config.settings import Settings
from service.core import open_core
from service.exports.pool import RenderPool
from service.http.appkeys import ANALYTICS, CORE, EXPORTS, SETTINGS, SOURCE, STORE
from service.http.middlewares import api_token, problems
from service.http.routes import setup_routes

log = logging.getLogger(__name__)

EXPORT_RENDERS = 2  # export worker processes: renders at once; the rest queue briefly


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        # With no token configured the token check is left out entirely: every hit pays for
        # each middleware layer.
        middlewares=[problems, api_token]
        if settings.api_token or settings.admin_token
        else [problems],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SOURCE] = "demo" if settings.demo else "voiceflow"
    app.cleanup_ctx.extend([core_ctx, exports_ctx])
    setup_routes(app)
    _setup_cors(app, settings.cors_origins)
    return app


@asynccontextmanager
async def core_ctx(app: web.Application) -> AsyncIterator[None]:
    """Store, upstream client and budget, partitions, answers, popularity: see core.py."""
    async with open_core(app[SETTINGS]) as core:
        app[CORE], app[STORE], app[ANALYTICS] = core, core.store, core.analytics
        if app[SETTINGS].redis_url is not None or not app[SETTINGS].warmer_embedded:
            yield
            return
        # No Redis, so no fleet: this process warms its own cache, as `python -m warmer` would.
        from warmer.scheduler import Warmer

        log.info("REDIS_URL is not set: the warmer runs inside this process")
        async with Warmer(core).running():
            yield


@asynccontextmanager
async def exports_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = RenderPool(EXPORT_RENDERS)
    app[EXPORTS] = pool
    try:
        yield
    finally:
        await pool.close()


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
