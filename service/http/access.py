"""The outermost middleware: every request's id, problem, counts and access line.

It takes the request's `X-Request-ID` when it is sane (or makes one), keeps it in the
logging context for every line the request causes (the upstream ones in the tasks it starts
included) and echoes it; answers whatever a handler raised as problem+json; counts the
upstream requests the request caused; and on the way out counts the request for
`GET /metrics` and writes one access line. One layer, not four: every hit pays for each.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import AbstractRoute

from service import logs, metrics
from service.fleet import tally
from service.http.middlewares import answer_error

REQUEST_ID = "X-Request-ID"
CLIENT_GONE = 499  # the client hung up before the answer (nginx's code for it)
UNMATCHED = "unmatched"  # the route label of a request no route matched (its path is not one)

# A new id: this process's random prefix and a counter (unique, and cheaper than random bytes).
_PREFIX = secrets.token_hex(4)
_COUNTER = itertools.count(1)


def request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is sane (short, no spaces or controls), else new."""
    if given is not None and logs.SANE_ID.fullmatch(given):
        return given
    return f"{_PREFIX}{next(_COUNTER):08x}"


def access_middleware(metrics_on: bool) -> Middleware:
    """The middleware, its switches bound once (every hit would otherwise look them up)."""
    observe = metrics.REQUESTS.observe

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        rid = request_id(request.headers.get(REQUEST_ID))
        # Set for good: aiohttp runs each request in a task of its own, whose context ends
        # with it (a reset would only cost the hit path).
        logs.REQUEST_ID.set(rid)
        upstream, _ = tally.start()
        status, cache = 500, ""
        try:
            try:
                response = await handler(request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                response = answer_error(request, exc)
            status, cache = response.status, response.headers.get("X-Cache", "")
            response.headers[REQUEST_ID] = rid
            return response
        except web.HTTPException as exc:  # below 400 (a redirect): raised on, counted
            status = exc.status
            exc.headers[REQUEST_ID] = rid
            raise
        except asyncio.CancelledError:
            status = CLIENT_GONE
            raise
        finally:
            seconds = time.perf_counter() - started
            route = _route(request)
            if metrics_on:
                observe(route, request.method, status, cache, seconds)
            if logs.access_on():
                _log(request, route, status, cache, seconds, upstream[0])

    return access


def _log(
    request: web.Request, route: str, status: int, cache: str, seconds: float, upstream: int
) -> None:
    logs.access_line(
        f"{request.method} {route} {status} {cache or '-'} {seconds * 1000:.1f} ms, "
        f"{upstream} upstream",
        {
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": status,
            "cache": cache or None,
            "duration_ms": round(seconds * 1000, 2),
            "upstream_requests": upstream,
        },
    )


_ROUTES: dict[AbstractRoute, str] = {}


def _route(request: web.Request) -> str:
    """The route's template (a label that cannot grow with clients' paths)."""
    route = request.match_info.route
    name = _ROUTES.get(route)
    if name is None:
        info = request.match_info
        resource = route.resource if info.http_exception is None else None
        name = resource.canonical if resource is not None else UNMATCHED
        if info.http_exception is None:  # a 404/405 "route" is made per request: not kept
            _ROUTES[route] = name
    return name
