"""Control plane under /_sim/, for tests and benchmarks that run the simulator out of process.

- `GET /_sim/stats`: counters and the request log; `POST /_sim/reset`: zero them, drop faults.
- `POST /_sim/config {field: value, …}`: latency, rate budget, error/timeout rates, hang_s.
- `POST /_sim/fail_next {"n", "status"?}`: the next n requests answer `status` (default 503;
  a 429 as the live guard answers it, Retry-After 1).
- `POST /_sim/hang_next {"n"}`: the next n requests wait hang_s seconds first.
- `POST /_sim/garbage_next {"n", "kind", "name"?}`: the next n valid queries (of metric
  `name`, or any) get a 200 of garbage instead: malformed_json, missing_items,
  missing_field, mistyped_field, endless_cursor (list metrics) or oversized_page
  (simulator/garbage.py). The log marks each with its kind.
- `POST /_sim/clear_faults`: drop every queued fault, keep the counters.
Bodies are validated like the API's: 400 with the reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.config import apply_overrides, tunables
from simulator.errors import BadRequest
from simulator.responses import json_response, read_json
from simulator.state import SIM_STATE

PREFIX = "/_sim"


async def _object(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    extra = sorted(set(body) - allowed)
    if extra:
        raise BadRequest(f"unknown field(s): {', '.join(extra)}")
    return body


def _count(body: dict[str, Any]) -> int:
    n = body.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise BadRequest("n is required and must be an integer >= 0")
    return n


async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[SIM_STATE].stats())


async def reset(request: web.Request) -> web.Response:
    request.app[SIM_STATE].reset()
    return json_response({"ok": True})


async def config(request: web.Request) -> web.Response:
    """Change any tunable field; answers the tunable fields as they now are."""
    state = request.app[SIM_STATE]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        apply_overrides(state.config, body)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(tunables(state.config))


async def fail_next(request: web.Request) -> web.Response:
    body = await _object(request, frozenset({"n", "status"}))
    status = body.get("status", 503)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise BadRequest("status must be an integer from 400 to 599")
    request.app[SIM_STATE].fail_next(_count(body), status)
    return json_response({"ok": True})


async def hang_next(request: web.Request) -> web.Response:
    body = await _object(request, frozenset({"n"}))
    request.app[SIM_STATE].hang_next(_count(body))
    return json_response({"ok": True})


async def garbage_next(request: web.Request) -> web.Response:
    body = await _object(request, frozenset({"n", "kind", "name"}))
    kind, name = body.get("kind"), body.get("name")
    if not isinstance(kind, str):
        raise BadRequest("kind is required and must be a string")
    if name is not None and not isinstance(name, str):
        raise BadRequest("name must be a metric name or null")
    try:
        request.app[SIM_STATE].garbage_next(_count(body), kind, name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return json_response({"ok": True})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SIM_STATE].clear_faults()
    return json_response({"ok": True})


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/stats", stats)
    app.router.add_post(f"{PREFIX}/reset", reset)
    app.router.add_post(f"{PREFIX}/config", config)
    app.router.add_post(f"{PREFIX}/fail_next", fail_next)
    app.router.add_post(f"{PREFIX}/hang_next", hang_next)
    app.router.add_post(f"{PREFIX}/garbage_next", garbage_next)
    app.router.add_post(f"{PREFIX}/clear_faults", clear_faults)
