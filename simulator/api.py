"""`POST /v2/query/usage`, in the contract's order of checks.

Fault injection -> auth -> rate budget -> validation -> latency -> answer (or garbage in its
place, when queued). Faults come first because a real outage does not look at the key; the
budget precedes validation, so malformed requests spend budget as they would behind a
gateway's rate guard [chosen].
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from simulator import cursor, garbage
from simulator.data import ordered_rows, to_item, top_intents
from simulator.errors import ApiError, BadRequest, RateLimited, Unauthorized
from simulator.responses import error_response, json_response, read_json
from simulator.state import SIM_STATE, SimulatorState
from simulator.validation import Query, log_fields, parse_query, requested_project

API_PATH = "/v2/query/usage"
INJECTED_RETRY_AFTER = 1  # seconds, on an injected 429
_PROJECT_KEY = re.compile(r"VF\.DM\.([0-9a-f]{24})\..+", re.ASCII | re.DOTALL)


def authorize(
    api_keys: tuple[str, ...],
    key: str | None,
    project_id: str | None,
    foreign_projects: tuple[str, ...] = (),
) -> str:
    """The key if it may read `project_id`; Unauthorized otherwise."""
    # The header carries the raw key; "Bearer <key>" is a client bug the live API rejects.
    if not key or key.startswith("Bearer ") or key not in api_keys:
        raise Unauthorized()
    if project_id is not None and project_id in foreign_projects:
        raise Unauthorized()  # another workspace's project: no key of ours has access
    # A project (Dialog Manager) key reads only its own project; any other accepted key
    # (VF.WS.… workspace keys) reads every project.
    match = _PROJECT_KEY.fullmatch(key)
    if match and project_id is not None and project_id != match[1]:
        raise Unauthorized()
    return key


def answer(query: Query, now: datetime) -> dict[str, Any]:
    """The `{"result": …}` body for a valid query, as seen at `now`."""
    if query.name == "top_intents":
        # The contract gives top_intents no pages, so a cursor here is ignored.
        intents = top_intents(query.project_id, query.start, query.end, now, query.limit)
        return {"result": {"intents": intents}}
    tag = cursor.window_tag(query.name, query.project_id, query.start_text, query.end_text)
    offset = 0
    if query.cursor is not None:
        decoded = cursor.decode(query.cursor, tag)
        if decoded is None:
            raise BadRequest("data.filter.cursor does not belong to this query")
        offset = decoded
    rows = ordered_rows(query.project_id, query.name, query.start, query.end, now)
    page = rows[offset : offset + query.limit]
    result: dict[str, Any] = {"items": [to_item(query.project_id, query.name, r) for r in page]}
    if offset + query.limit < len(rows):
        result["cursor"] = cursor.encode(tag, offset + query.limit)
    return {"result": result}


async def _respond(
    state: SimulatorState, key: str | None, body: Any
) -> tuple[web.Response, str | None]:
    """The answer, and the garbage kind it was spoilt with (None: as the contract says)."""
    config = state.config
    fault = state.draw_fault()
    if fault is not None and fault.status == 429:
        # As the live guard answers one: its message and a Retry-After [chosen: 1 s].
        raise RateLimited({"Retry-After": str(INJECTED_RETRY_AFTER)})
    if fault is not None and fault.status is not None:
        raise ApiError(fault.status)
    if fault is not None and fault.hang:
        await asyncio.sleep(config.hang_s)
    key = authorize(config.api_keys, key, requested_project(body), config.foreign_projects)
    budget_headers = state.spend(key)
    query = parse_query(body)
    if config.latency_s > 0:
        await asyncio.sleep(config.latency_s)
    # Computed on the event loop: a page of a cached window costs about a millisecond, and even
    # a cold year of one metric ~0.2 s, acceptable for a test double.
    now = config.clock()
    good = answer(query, now)
    kind = state.draw_garbage(query.name)  # after validation: garbage stands in for a 200
    if kind is not None:
        return garbage.response(kind, query, good, now, budget_headers), kind
    return json_response(good, headers=budget_headers), None


async def query_usage(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    state.received()
    body = await read_json(request)
    fields = log_fields(body)
    kind = None
    try:
        response, kind = await _respond(state, request.headers.get("authorization"), body)
    except ApiError as exc:
        response = error_response(exc)
    except Exception:
        state.record(fields, 500)  # counted, then the middleware logs it and answers 500
        raise
    state.record(fields, response.status, kind)
    return response
