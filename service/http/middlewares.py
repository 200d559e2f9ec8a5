"""Problem+json for every error, and the API token check (http/access.py runs both for
every route)."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from service.config.tokens import Grant
from service.errors import Forbidden, ProblemError, Unauthorized
from service.fleet.priority import running_as, user
from service.http.appkeys import SETTINGS
from service.http.jsonio import json_response

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://vf-analytics-cache.dev/problems/"
OPENAPI_PATH = "/api/openapi.json"  # the contract is public: it holds no data
GRANT = web.RequestKey("grant", Grant)  # the request's API token, when any token is set


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
    """The problem+json a handler's exception is answered with (every route's wrapper,
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


def _bearer(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def check_project(request: web.Request, project_id: str) -> None:
    """403 when the request's token may not read `project_id` (before any cache is read)."""
    grant = request.get(GRANT)
    if grant is not None and not grant.allows(project_id):
        raise Forbidden(
            f"the API token {grant.name!r} may not read project {project_id}",
            field="project_id",
        )


async def api_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """/api/* needs one of the API tokens when any is set; the warmer's pages and the admin
    calls need ADMIN_TOKEN instead. With no ADMIN_TOKEN the admin calls refuse every request
    (403). A request runs as its token's user (fleet/priority.py), so the users' upstream
    budget is shared fairly between tokens. Every route's handler runs behind this check,
    inside the handling of problems, when any token is set (http/access.py)."""
    settings = request.app[SETTINGS]
    path = request.path
    if request.method == "OPTIONS" or not path.startswith("/api/") or path == OPENAPI_PATH:
        return await handler(request)
    if path.startswith(("/api/warmer/", "/api/admin/")):
        admin = settings.admin_token
        if admin is not None:
            if not hmac.compare_digest(_bearer(request).encode(), admin.reveal().encode()):
                raise Unauthorized(
                    "send Authorization: Bearer <ADMIN_TOKEN>", field="Authorization"
                )
            return await handler(request)
        if path.startswith("/api/admin/"):
            return await handler(request)  # it answers 403 itself: no ADMIN_TOKEN, no admin calls
    tokens = settings.api_tokens
    if not tokens:
        return await handler(request)
    grant = tokens.find(_bearer(request))
    if grant is None:
        raise Unauthorized("send Authorization: Bearer <API_TOKEN>", field="Authorization")
    if grant.projects is not None and path.startswith("/api/warmer/"):
        raise Forbidden(
            f"the API token {grant.name!r} reads only some projects, and the warmer's status "
            "names every project: use ADMIN_TOKEN or a token for every project"
        )
    request[GRANT] = grant
    with running_as(user(grant.name)):
        return await handler(request)
