"""What a metrics scrape reads from the store: the fleet's budget and the warmer's pulse.

Both the web process's `GET /metrics` and the warmer's own call this before writing the
registry out. It costs a fixed number of store commands whatever the fleet's size: one
script for the bucket and its pause, one GET for the heartbeat (the learned rate, when
probing, is read at most once a second anyway).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import metrics
from service.core import Core
from warmer.state import heartbeat_age


async def scrape(core: Core) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, its store-held gauges read now."""
    metrics.STORE_DEGRADED.set(1 if core.store.degraded else 0)
    try:
        tokens, paused_until = await core.budget.level()
        metrics.BUDGET_TOKENS.set(tokens)
        metrics.BUDGET_PAUSED_UNTIL.set(paused_until)
        metrics.BUDGET_RATE.set(await core.budget.rate())
        age = await heartbeat_age(core.store, core.keys)
        metrics.WARMER_HEARTBEAT_AGE.set(math.inf if age is None else age)
    except Exception:  # the store is unreachable (and says so above): keep the last values
        pass
    return generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST


@contextlib.asynccontextmanager
async def serving_metrics(core: Core, host: str, port: int | None) -> AsyncIterator[None]:
    """The warmer process's own `GET /metrics` on `port` (None: none), while open."""
    if port is None:
        yield
        return

    async def view(request: web.Request) -> web.StreamResponse:
        body, content_type = await scrape(core)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_get("/metrics", view)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    log = logging.getLogger("warmer")
    try:
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("metrics on http://%s:%d/metrics", host, port)
        except OSError as exc:  # a warmer without metrics still warms: say so, go on
            log.warning("cannot serve metrics on port %d (%s): WARMER_METRICS_PORT", port, exc)
        yield
    finally:
        await runner.cleanup()
