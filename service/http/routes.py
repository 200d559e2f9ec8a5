"""The URL map."""

from __future__ import annotations

from aiohttp import web

from service.http import admin, exports, health
from service.http.cacheable import answer_get_view
from service.http.metrics_view import metrics_view
from service.http.openapi import openapi
from service.http.ops import ops
from service.http.views import answer_view
from service.http.warmer_status import warmer_status


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/analytics/overview", answer_view("overview"))
    app.router.add_post("/api/analytics/compare", answer_view("compare"))
    app.router.add_get("/api/analytics/overview", answer_get_view("overview"))
    app.router.add_get("/api/analytics/compare", answer_get_view("compare"))
    app.router.add_post("/api/export", exports.export)
    app.router.add_get("/api/warmer/status", warmer_status)
    app.router.add_post("/api/admin/invalidate", admin.invalidate)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/health", health.health)
    app.router.add_get("/health/ready", health.ready)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/ops", ops)
