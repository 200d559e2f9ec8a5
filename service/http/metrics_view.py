"""`GET /metrics`: Prometheus' text format (warmer/observe.py reads the store's part)."""

from __future__ import annotations

from aiohttp import web

from service.http.appkeys import CORE
from warmer.observe import scrape


async def metrics_view(request: web.Request) -> web.StreamResponse:
    body, content_type = await scrape(request.app[CORE])
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response
