"""The simulator app: Voiceflow's analytics API plus an optional control plane."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from simulator import control as _control
from simulator.api import API_PATH, query_usage
from simulator.config import SimulatorConfig
from simulator.errors import ApiError
from simulator.responses import error_response
from simulator.state import SIM_STATE, SimulatorState

__all__ = ["SIM_STATE", "SimulatorConfig", "SimulatorState", "create_simulator_app"]

log = logging.getLogger(__name__)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as `{"statusCode", "message"}` JSON, like Voiceflow's own."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # NestJS's wording, which Voiceflow's services answer unknown routes with.
        message = f"Cannot {request.method} {request.path}" if exc.status in (404, 405) else None
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(ApiError(exc.status, message or exc.reason, headers))
    except Exception:
        log.exception("simulator failed on %s %s", request.method, request.path)
        return error_response(ApiError(500))


def create_simulator_app(config: SimulatorConfig, *, control: bool = True) -> web.Application:
    """A fresh simulator; `control=False` leaves out /_sim/* (a pure look-alike of the API)."""
    app = web.Application(middlewares=[json_errors])
    app[SIM_STATE] = SimulatorState(config)
    app.router.add_post(API_PATH, query_usage)
    if control:
        _control.add_routes(app)
    return app
