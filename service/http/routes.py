"""The URL map."""

from __future__ import annotations

from aiohttp import web

from . import views
from .exports import views as exports
from .openapi import openapi
from .warmer_views import warmer_status


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/analytics/overview", views.overview)
    app.router.add_post("/api/analytics/compare", views.compare)
    app.router.add_post("/api/export", exports.export)
    app.router.add_get("/api/warmer/status", warmer_status)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/health", views.health)
    app.router.add_get("/health/ready", views.ready)
