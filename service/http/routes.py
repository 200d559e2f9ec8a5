"""The URL map, every route observed (http/access.py), and what answers a request no route
matched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from service.http import admin, exports, health
from service.http.access import UNMATCHED, observed
from service.http.appkeys import SETTINGS
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


def observe_routes(app: web.Application) -> None:
    """Every route observed, CORS's preflights included, then the answer for requests no
    route matched: called once, after every route is added. (The app has no middleware:
    see http/access.py.)"""
    settings = app[SETTINGS]
    for route in app.router.routes():
        assert route.resource is not None  # a route of the router's always has one
        # aiohttp has no setter: the handler is replaced where the route keeps it.
        route._handler = observed(route.handler, route.resource.canonical, settings)
    app.router.register_resource(Unmatched(observed(unmatched, UNMATCHED, settings)))


async def unmatched(request: web.Request) -> web.StreamResponse:
    """The 404, or the 405 naming the methods the path has, that aiohttp would have raised."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if not isinstance(resource, Unmatched):
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


class Unmatched(web.AbstractResource):
    """Matches every request, and is tried last: the router tries resources from the
    request's whole path down to "/", where this one is indexed, registered after the rest.
    Without it aiohttp answers a request no route matched itself, with no handler of ours
    to observe it; only a middleware would see it, and any middleware costs every hit.

    It lists no route: it is the router's fallback, not a path the service serves (the CORS
    set-up and the contract's test go through the routes)."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self._route = web.ResourceRoute(hdrs.METH_ANY, handler, self)

    @property
    def canonical(self) -> str:
        return "/"

    def url_for(self, **kwargs: str) -> NoReturn:
        raise RuntimeError("no URL leads to a request no route matched")

    async def resolve(self, request: web.Request) -> tuple[web.UrlMappingMatchInfo, set[str]]:
        return web.UrlMappingMatchInfo({}, self._route), set()

    def add_prefix(self, prefix: str) -> NoReturn:
        raise RuntimeError("the fallback of one app is not part of another")

    def get_info(self) -> dict[str, str]:  # type: ignore[override]
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[web.AbstractRoute]:
        return iter(())
