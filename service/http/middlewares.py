"""Problem+json for every error, and the API token check."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from service.errors import ProblemError, Unauthorized
from service.http.appkeys import SETTINGS
from service.http.jsonio import json_response

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://vf-analytics-cache.dev/problems/"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    retry_after: float | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        seconds = max(1, int(retry_after + 0.999))
        headers["Retry-After"] = str(seconds)
        body["retry_after"] = seconds
    response = json_response(body, status=status, headers=headers)
    response.content_type = "application/problem+json"
    return response


def _from_http(exc: web.HTTPException, request: web.Request) -> web.Response:
    slug = exc.reason.lower().replace(" ", "-")
    detail = {
        404: f"no route {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: "the request body is too large",
    }.get(exc.status, exc.reason)
    response = problem(exc.status, slug, exc.reason, detail)
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def answer_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The problem+json a handler's exception is answered with (the outermost middleware,
    http/access.py, calls it); an HTTP exception below 400 (a redirect) is raised on."""
    if isinstance(exc, ProblemError):
        if exc.status >= 500:
            log.warning("%s %s -> %d %s", request.method, request.path, exc.status, exc.detail)
        return problem(
            exc.status,
            exc.type_slug,
            exc.title,
            exc.detail,
            field=exc.field,
            retry_after=exc.retry_after,
            **exc.extra,
        )
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _from_http(exc, request)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return problem(
        500,
        "internal-error",
        "Internal server error",
        "the server failed to answer; the error was logged",
    )


@web.middleware
async def api_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/api/* needs API_TOKEN when it is set; the warmer's pages and the admin calls need
    ADMIN_TOKEN instead. With no ADMIN_TOKEN the admin calls refuse every request (403)."""
    settings = request.app[SETTINGS]
    token, name = settings.api_token, "API_TOKEN"
    admin = request.path.startswith(("/api/warmer/", "/api/admin/"))
    if admin and settings.admin_token is not None:
        token, name = settings.admin_token, "ADMIN_TOKEN"
    elif request.path.startswith("/api/admin/"):
        return await handler(request)  # it answers 403 itself: no ADMIN_TOKEN, no admin calls
    if token is None or request.method == "OPTIONS" or not request.path.startswith("/api/"):
        return await handler(request)
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.reveal().encode()
    ):
        raise Unauthorized(f"send Authorization: Bearer <{name}>", field="Authorization")
    return await handler(request)
