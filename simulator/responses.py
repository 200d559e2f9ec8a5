"""The one place that serialises JSON answers (orjson) and parses JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from simulator.errors import ApiError


class InvalidJson:
    """Marks a body that is not JSON at all, so validation can say so."""


INVALID_JSON = InvalidJson()


def _dumps(data: Any) -> bytes:
    # Stats are keyed by integer status; JSON turns those keys into strings.
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_bytes_response(data, dumps=_dumps, status=status, headers=headers)


def error_response(exc: ApiError) -> web.Response:
    body = {"statusCode": exc.status, "message": exc.message}
    return json_response(body, status=exc.status, headers=exc.headers)


async def read_json(request: web.Request) -> Any:
    """The decoded body, or INVALID_JSON when it is empty or not JSON."""
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else INVALID_JSON
    except orjson.JSONDecodeError:
        return INVALID_JSON
