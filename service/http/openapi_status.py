"""The component schemas of the OpenAPI document for errors and status: the problem+json
body every error is, liveness, readiness and the warmer's status."""

from __future__ import annotations

from typing import Any

from service.http.openapi_schemas import DATE, ENV, ID, INT, array, obj

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "field": {"type": "string"},
            "retry_after": {"type": "integer", "minimum": 1},
            "progress": {
                "description": "With type .../still-fetching: how far the fetch behind the "
                "answer has got. It goes on while the client waits Retry-After, which is "
                "estimated from pages_left and the upstream rate.",
                "oneOf": [
                    {"type": "null"},
                    obj(
                        {
                            "metric_days_done": INT,
                            "metric_days_needed": INT,
                            "pages_fetched": INT,
                            "pages_left": {"oneOf": [INT, {"type": "null"}]},
                        }
                    ),
                ],
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "store", "degraded", "source", "embedded"],
        "properties": {
            "status": {"const": "ok"},
            "store": {"enum": ["redis", "memory"]},
            "degraded": {"type": "boolean"},
            "source": {"enum": ["voiceflow", "demo"]},
            "embedded": array({"type": "string"}),
        },
    },
    "WarmerStatus": {
        "type": "object",
        "required": ["leader", "heartbeat", "jobs", "budget", "top"],
        "properties": {
            "leader": {"type": ["string", "null"], "description": "The acting warmer."},
            "leader_since": {"type": ["string", "null"], "format": "date-time"},
            "last_report_by": {"type": ["string", "null"]},
            "heartbeat": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["id", "age_seconds", "leader"],
                        "properties": {
                            "id": {"type": "string"},
                            "age_seconds": {"type": "number"},
                            "leader": {"type": "boolean"},
                        },
                    },
                ]
            },
            "jobs": array(
                {
                    "type": "object",
                    "required": ["id", "name", "trigger", "next_run", "last_run"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "trigger": {"type": "string"},
                        "next_run": {"type": ["string", "null"], "format": "date-time"},
                        "last_run": {
                            "description": "Its last report: refreshed, fresh, running, failed, "
                            "upstream requests spent vs allowance, stopped early and why.",
                            "type": ["object", "null"],
                        },
                    },
                }
            ),
            "config": {"type": ["object", "null"]},
            "budget": {
                "description": "The upstream budget's settings and, when probing "
                "(UPSTREAM_RATE_MAX_PER_SECOND), `learned_rate`: the rate the fleet sends at "
                "now, its bounds, its halvings and the rate the last one started from.",
                "type": "object",
            },
            "top": array(
                {
                    "type": "object",
                    "required": ["kind", "project_id", "start", "end", "tz", "score", "state"],
                    "properties": {
                        "kind": {"enum": ["overview", "compare"]},
                        "project_id": ID,
                        "start": DATE,
                        "end": DATE,
                        "tz": {"type": "string"},
                        "environment_id": ENV,
                        "score": {"type": "number"},
                        "state": {"enum": ["fresh", "stale", "missing"]},
                        "fresh_until": {"type": ["string", "null"], "format": "date-time"},
                        "stale_in_seconds": {"type": ["integer", "null"]},
                    },
                }
            ),
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Ready": {
        "type": "object",
        "required": ["status", "failing", "checks"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "fail"]},
            "failing": array({"type": "string"}),
            "checks": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"enum": ["ok", "degraded", "fail"]}},
                },
            },
        },
    },
}
