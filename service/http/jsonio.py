"""JSON in and out: orjson for every response body, one parser for request bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from service.analytics.query import parse_json
from service.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_bytes_response(data, dumps=orjson.dumps, status=status, headers=headers)


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The request's JSON body bytes; 415 for another type, 413 past the limit."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {request.content_type or 'none'}",
            field="Content-Type",
        )
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"the body is {length} bytes; at most {max_bytes} are accepted")
    if length is not None:
        try:  # the usual case: one await for the declared length, however it is split
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ValidationError(
                "the body ended before its Content-Length", field="body"
            ) from None
    # Chunked: read to the end, in as many pieces as it arrives in, stopping past the limit.
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """The request's body, parsed: 415, 413 and 400 as read_body and parse_json say."""
    return parse_json(await read_body(request, max_bytes))
