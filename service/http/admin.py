"""`POST /api/admin/invalidate`: drop wrong cached data of a project, in every process.

Admin calls need ADMIN_TOKEN (every route's wrapper, http/access.py, checks the bearer token
with `api_token`); while it is unset they are refused outright: a destructive call is never open.
"""

from __future__ import annotations

import logging

from aiohttp import web

from service.analytics.invalidation import Invalidator, parse_invalidation
from service.errors import ProblemError
from service.http.appkeys import CORE, SETTINGS
from service.http.jsonio import json_response, read_json

log = logging.getLogger(__name__)


class AdminDisabled(ProblemError):
    status = 403
    type_slug = "admin-disabled"
    title = "Admin calls are disabled"


async def invalidate(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if settings.admin_token is None:
        raise AdminDisabled(
            "ADMIN_TOKEN is not set: set it to enable /api/admin/* (a destructive call is "
            "never open)"
        )
    ask = parse_invalidation(await read_json(request, settings.max_body_bytes))
    core = request.app[CORE]
    dropped = await Invalidator(core.store, core.keys, core.answers).run(ask)
    report = dropped.report(ask)
    log.warning(  # an audit trail of destructive calls
        "invalidated project %s, UTC days %s..%s: %s",
        ask.project_id,
        report["start"] or "*",
        report["end"] or "*",
        report["dropped"],
    )
    return json_response(report)
