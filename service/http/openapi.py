"""The OpenAPI 3.1 document the service serves; tests validate it and check answers against it.

The operations live here; the component schemas they refer to are in `openapi_schemas`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.http.jsonio import json_response
from service.http.openapi_schemas import SCHEMAS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


_CACHE_HEADERS = {
    "X-Cache": {
        "description": "HIT (fresh), STALE (served while refreshing, or because "
        "Voiceflow failed) or MISS.",
        "schema": {"enum": ["HIT", "MISS", "STALE"]},
    },
    "Age": {"description": "Seconds since the data was fetched.", "schema": {"type": "integer"}},
    "ETag": {"description": "Weak validator of the data.", "schema": {"type": "string"}},
    "Cache-Control": {
        "description": "private, max-age=<seconds still fresh>",
        "schema": {"type": "string"},
    },
}
_ERRORS = {
    "400": _problem("Invalid body: the `field` member names the field, `detail` the rule."),
    "401": _problem("API_TOKEN is set and the bearer token is missing or wrong."),
    "413": _problem("Body over MAX_BODY_BYTES."),
    "415": _problem("Content-Type is not application/json."),
    "502": _problem(
        "Voiceflow rejected the configured key or the query: a configuration "
        "problem that retrying will not fix."
    ),
    "503": _problem(
        "Voiceflow is rate limiting, failing or busy and nothing cached can be "
        "served; see Retry-After."
    ),
    "504": _problem("Voiceflow timed out and nothing cached can be served; see Retry-After."),
}


def _analytics_op(summary: str, schema: str, request: str = "AnalyticsRequest") -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}, {}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            },
            "responses": {
                "200": {
                    "description": "The answer.",
                    "headers": _CACHE_HEADERS,
                    "content": {"application/json": {"schema": _ref(schema)}},
                },
                "304": {"description": "If-None-Match matched the current ETag."},
                **_ERRORS,
            },
        }
    }


_EXPORT_OP: dict[str, Any] = {
    "post": {
        "summary": "The range as a tidy CSV or a PDF report, built from the cached answers.",
        "security": [{"bearer": []}, {}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("ExportRequest")}},
        },
        "responses": {
            "200": {
                "description": "The file, as an attachment named <project>_<start>_<end>.<ext>.",
                "headers": {
                    "X-Cache": {
                        "description": "HIT when the rendered file came from the export "
                        "cache, else MISS.",
                        "schema": {"enum": ["HIT", "MISS"]},
                    },
                    "Content-Disposition": {
                        "description": 'attachment; filename="<project>_<start>_<end>.<ext>"',
                        "schema": {"type": "string"},
                    },
                },
                "content": {
                    "text/csv": {
                        "schema": {"type": "string", "contentMediaType": "text/csv"},
                    },
                    "application/pdf": {
                        "schema": {"type": "string", "contentMediaType": "application/pdf"},
                    },
                },
            },
            **_ERRORS,
            "503": _problem(
                "Every export renderer stayed busy, or Voiceflow is rate limiting or failing "
                "and nothing cached can be served; see Retry-After."
            ),
        },
    }
}


_INVALIDATE_OP: dict[str, Any] = {
    "post": {
        "summary": "Drop what is cached about a project, or about a range of its UTC days, in "
        "every process: the days of every metric, top_intents windows and checkpoints that "
        "touch it, and the answers (with their exports) whose range or previous period does.",
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("InvalidateRequest")}},
        },
        "responses": {
            "200": {
                "description": "What was dropped, counted per kind, and the dropped answers.",
                "content": {"application/json": {"schema": _ref("Invalidated")}},
            },
            "400": _ERRORS["400"],
            "401": _problem("The bearer token is missing or is not ADMIN_TOKEN."),
            "403": _problem("ADMIN_TOKEN is not set: admin calls are refused."),
            "413": _ERRORS["413"],
            "415": _ERRORS["415"],
        },
    }
}

_HTML = {"text/html": {"schema": {"type": "string", "contentMediaType": "text/html"}}}
_OPS_OP: dict[str, Any] = {
    "get": {
        "summary": "The ops page, for people: the warmer's jobs and reports, the top answers and "
        "when they go stale, the fleet budget, this process's last ten minutes, and the plan "
        "of the next warmer run.",
        "security": [{"basic": []}, {"bearer": []}],
        "responses": {
            "200": {"description": "The page (it reloads every 10 s).", "content": _HTML},
            "401": {
                "description": "No token or a wrong one: ADMIN_TOKEN is the Basic-auth password "
                "(any user name), or a bearer token.",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                "content": _HTML,
            },
            "403": {"description": "ADMIN_TOKEN is not set: the page is off.", "content": _HTML},
        },
    }
}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "vf-analytics-cache",
        "version": "0.1.0",
        "description": "Voiceflow analytics for dashboards, answered from a cache.",
    },
    "paths": {
        "/api/analytics/overview": _analytics_op(
            "Totals, a daily series per local date, and breakdowns for a range.", "Overview"
        ),
        "/api/analytics/compare": _analytics_op(
            "Totals for a range and the previous period of equal length, with changes.", "Compare"
        ),
        "/api/export": _EXPORT_OP,
        "/api/warmer/status": {
            "get": {
                "summary": "The warmer: leader, each job's last and next run, budget, and the "
                "most popular answers with their freshness.",
                "security": [{"bearer": []}, {}],
                "responses": {
                    "200": {
                        "description": "Status. Needs ADMIN_TOKEN when it is set.",
                        "content": {"application/json": {"schema": _ref("WarmerStatus")}},
                    },
                    "401": _ERRORS["401"],
                },
            }
        },
        "/api/admin/invalidate": _INVALIDATE_OP,
        "/api/openapi.json": {
            "get": {
                "summary": "This document.",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness.",
                "responses": {
                    "200": {
                        "description": "The process answers.",
                        "content": {"application/json": {"schema": _ref("Health")}},
                    }
                },
            }
        },
        "/health/ready": {
            "get": {
                "summary": "Readiness: store reachable, upstream configured.",
                "responses": {
                    "200": {
                        "description": "It can serve: every check is ok, or some are "
                        "degraded (e.g. Redis down, serving from the in-process store).",
                        "content": {"application/json": {"schema": _ref("Ready")}},
                    },
                    "503": {
                        "description": "A check fails; `failing` names it.",
                        "content": {"application/json": {"schema": _ref("Ready")}},
                    },
                },
            }
        },
        "/ops": _OPS_OP,
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format): requests, cache "
                "outcomes, upstream requests, the fleet's budget, single flight, exports, "
                "the warmer. See the README's Observability section for the names.",
                "responses": {
                    "200": {
                        "description": "The metrics, as Prometheus scrapes them.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Required on /api/* when API_TOKEN is set.",
            },
            "basic": {
                "type": "http",
                "scheme": "basic",
                "description": "GET /ops: any user name, ADMIN_TOKEN as the password.",
            },
        },
    },
}


async def openapi(request: web.Request) -> web.StreamResponse:
    return json_response(DOCUMENT)
