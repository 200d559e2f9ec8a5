"""The URL map."""

from __future__ import annotations

from aiohttp import web

from service.exports import views as exports
from service.http import views
from service.http.openapi import openapi
from service.http.warmer_status import warmer_status


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/analytics/overview", views.overview)
    app.router.add_post("/api/analytics/compare", views.compare)
    app.router.add_post("/api/export", exports.export)
    app.router.add_get("/api/warmer/status", warmer_status)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/health", views.health)
    app.router.add_get("/health/ready", views.ready)
