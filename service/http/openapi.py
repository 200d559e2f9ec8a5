"""The OpenAPI 3.1 document the service serves; tests validate it, check answers against it
and fuzz the service with it (tests/http/test_fuzz.py).

The operations live here; the component schemas they refer to are in `openapi_schemas` and
`openapi_status`. The document describes the deployment that serves it: which calls need
which token follows API_TOKEN(S) and ADMIN_TOKEN, and so do the 401 and 403 answers.
"""

from __future__ import annotations

import functools

from aiohttp import web

from service.http import openapi_schemas, openapi_status
from service.http.appkeys import SETTINGS
from service.http.jsonio import json_response
from service.http.openapi_analytics import analytics_op
from service.http.openapi_responses import (
    BODY_ERRORS,
    RETRY,
    UPSTREAM_ERRORS,
    Doc,
    admin_errors,
    header,
    problem,
    ref,
    token_errors,
)


def _body(schema: str) -> Doc:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def _user_security(tokens: bool) -> list[Doc]:
    return [{"bearer": []}] if tokens else []


def _export_op(tokens: bool) -> Doc:
    ok_headers = {
        "X-Cache": header(
            "HIT when the rendered file came from the export cache, else MISS.",
            {"enum": ["HIT", "MISS"]},
        ),
        "Content-Disposition": header(
            'attachment; filename="<project>_<start>_<end>.<ext>"',
            {"type": "string", "pattern": '^attachment; filename="[A-Za-z0-9_.-]+"$'},
        ),
        "Cache-Control": header("Customer data: no copies.", {"const": "private, no-store"}),
    }
    return {
        "post": {
            "operationId": "postExport",
            "summary": "The range as a tidy CSV or a PDF report, built from the cached answers.",
            "security": _user_security(tokens),
            "requestBody": _body("ExportRequest"),
            "responses": {
                "200": {
                    "description": "The file, as an attachment named "
                    "<project>_<start>_<end>.<ext>.",
                    "headers": ok_headers,
                    "content": {
                        "text/csv": {"schema": {"type": "string", "contentMediaType": "text/csv"}},
                        "application/pdf": {
                            "schema": {"type": "string", "contentMediaType": "application/pdf"}
                        },
                    },
                },
                **BODY_ERRORS,
                **token_errors(tokens, "The token may not read this project."),
                **UPSTREAM_ERRORS,
                "503": problem(
                    "Every export renderer stayed busy, a render took too long, or Voiceflow "
                    "is rate limiting or failing and nothing cached can be served, or the "
                    "answers are still being fetched: retry after Retry-After.",
                    RETRY,
                ),
            },
        }
    }


def _invalidate_op(admin: bool) -> Doc:
    return {
        "post": {
            "operationId": "invalidate",
            "summary": "Drop what is cached about a project, or about a range of its UTC days, "
            "in every process: the days of every metric, top_intents windows and checkpoints "
            "that touch it, and the answers (with their exports) whose range or previous "
            "period does.",
            "security": [{"admin": []}],
            "requestBody": _body("InvalidateRequest"),
            "responses": {
                "200": {
                    "description": "What was dropped, counted per kind, and the dropped answers.",
                    "content": {"application/json": {"schema": ref("Invalidated")}},
                },
                **BODY_ERRORS,
                **admin_errors(admin),
            },
        }
    }


def _warmer_status_op(tokens: bool, admin: bool) -> Doc:
    # ADMIN_TOKEN, when set, is the only key to it; else the API tokens that read every project.
    security: list[Doc] = [{"admin": []}] if admin else _user_security(tokens)
    errors = (
        admin_errors(admin)
        if admin
        else token_errors(tokens, "The token reads only some projects; the status names all.")
    )
    ok = {
        "description": "Status.",
        "content": {"application/json": {"schema": ref("WarmerStatus")}},
    }
    return {
        "get": {
            "operationId": "getWarmerStatus",
            "summary": "The warmer: leader, each job's last and next run, budget, and the "
            "most popular answers with their freshness.",
            "security": security,
            "responses": {"200": ok, **errors},
        }
    }


_HTML = {"text/html": {"schema": {"type": "string", "contentMediaType": "text/html"}}}


def _ops_op(admin: bool) -> Doc:
    refused = (
        {
            "401": {
                "description": "No token or a wrong one: ADMIN_TOKEN is the Basic-auth password "
                "(any user name), or a bearer token.",
                "headers": {
                    "WWW-Authenticate": header(
                        "The Basic realm.", {"type": "string", "pattern": "^Basic "}
                    )
                },
                "content": _HTML,
            }
        }
        if admin
        else {"403": {"description": "ADMIN_TOKEN is not set: the page is off.", "content": _HTML}}
    )
    return {
        "get": {
            "operationId": "getOpsPage",
            "summary": "The ops page, for people: the warmer's jobs and reports, the top answers "
            "and when they go stale, the fleet budget, this process's last ten minutes, and the "
            "plan of the next warmer run.",
            "security": [{"basic": []}, {"admin": []}],
            "responses": {
                "200": {"description": "The page (it reloads every 10 s).", "content": _HTML},
                **refused,
            },
        }
    }


def _get(op_id: str, summary: str, ok: Doc, others: Doc | None = None) -> Doc:
    """A GET open to anyone (no token is asked for)."""
    responses = {"200": ok, **(others or {})}
    return {
        "get": {"operationId": op_id, "summary": summary, "security": [], "responses": responses}
    }


def _json(description: str, schema: Doc) -> Doc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_PUBLIC: Doc = {
    "/api/openapi.json": _get(
        "getOpenApi",
        "This document, as this deployment's tokens make it.",
        _json("OpenAPI 3.1 document.", {"type": "object"}),
    ),
    "/health": _get("getHealth", "Liveness.", _json("The process answers.", ref("Health"))),
    "/health/ready": _get(
        "getReady",
        "Readiness: store reachable, upstream configured.",
        _json(
            "It can serve: every check is ok, or some are degraded (e.g. Redis down, serving "
            "from the in-process store).",
            ref("Ready"),
        ),
        {"503": _json("A check fails; `failing` names it.", ref("Ready"))},
    ),
    "/metrics": _get(
        "getMetrics",
        "Prometheus metrics (text exposition format): requests, cache outcomes, upstream "
        "requests, the fleet's budget, single flight, exports, the warmer. See the README's "
        "Observability section for the names.",
        {
            "description": "The metrics, as Prometheus scrapes them.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    ),
}

_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "One of API_TOKEN, API_TOKENS and API_TOKENS_FILE's tokens; a token "
        "scoped to some projects gets 403 for the others.",
    },
    "admin": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN."},
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "GET /ops: any user name, ADMIN_TOKEN as the password.",
    },
}


@functools.cache
def document(*, tokens: bool, admin: bool) -> Doc:
    """The document of a deployment with (or without) API tokens and an ADMIN_TOKEN."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vf-analytics-cache",
            "version": "0.1.0",
            "description": "Voiceflow analytics for dashboards, answered from a cache. Each "
            "operation's security is this deployment's: API tokens "
            + ("are" if tokens else "are not")
            + " set, ADMIN_TOKEN "
            + ("is" if admin else "is not")
            + " set.",
        },
        "paths": {
            "/api/analytics/overview": analytics_op(
                "overview",
                "Totals, a daily series per local date, and breakdowns for a range.",
                "Overview",
                tokens,
            ),
            "/api/analytics/compare": analytics_op(
                "compare",
                "Totals for a range and the previous period of equal length, with changes.",
                "Compare",
                tokens,
            ),
            "/api/export": _export_op(tokens),
            "/api/warmer/status": _warmer_status_op(tokens, admin),
            "/api/admin/invalidate": _invalidate_op(admin),
            **_PUBLIC,
            "/ops": _ops_op(admin),
        },
        "components": {
            "schemas": {**openapi_schemas.SCHEMAS, **openapi_status.SCHEMAS},
            "securitySchemes": _SCHEMES,
        },
    }


DOCUMENT = document(tokens=False, admin=False)  # the default deployment's


async def openapi(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    return json_response(
        document(tokens=bool(settings.api_tokens), admin=settings.admin_token is not None)
    )
