"""The component schemas of the OpenAPI document for errors and status: the problem+json
body every error is, liveness, readiness and the warmer's status."""

from __future__ import annotations

from typing import Any

from service.http.openapi_schemas import DATE, ENV, ID, INT, array, obj

NUMBER = {"type": "number", "minimum": 0}
_WHEN = {"type": "string", "format": "date-time"}
# A warmer's report of one run (warmer/jobs.py Report), as the status shows it. Open to new
# members: a newer warmer of the fleet may report more than this process knows.
_REPORT = {
    "type": "object",
    "required": ["job", "started", "finished", "seconds", "refreshed", "failed", "upstream"],
    "properties": {
        "job": {"type": "string"},
        "started": _WHEN,
        "finished": _WHEN,
        "seconds": NUMBER,
        **{name: INT for name in ("candidates", "refreshed", "renewed", "fresh", "running")},
        **{name: INT for name in ("failed", "upstream", "deferred")},
        "allowance": NUMBER,
        "stopped_early": {"type": ["string", "null"]},
        "acted_by": {"type": "string"},
        "errors": array({"type": "string"}),
    },
}
_CONFIG = {
    "type": "object",
    "properties": {
        "source": {"type": "string", "description": "The WARMER_CONFIG file, or defaults."},
        "interval": NUMBER,
        "cron": {"type": ["string", "null"]},
        "top_k": INT,
        "margin": NUMBER,
        "budget_share": NUMBER,
        "half_life": NUMBER,
        "projects": array({"type": "string"}),
        "lease": NUMBER,
    },
}
_LEARNED = obj(
    {
        "rate_per_second": NUMBER,
        "configured_per_second": NUMBER,
        "max_per_second": NUMBER,
        "floor_per_second": NUMBER,
        "halvings": INT,
        "last_halved_from": {"type": ["number", "null"]},
    }
)
_BUDGET = obj(
    {
        "upstream_rate_per_second": NUMBER,
        "background_share": NUMBER,
        "warmer_share_per_run": NUMBER,
        "upstream_rate_max_per_second": {"type": ["number", "null"]},
        "learned_rate": {"oneOf": [{"type": "null"}, _LEARNED]},
    }
)

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
            "store": {"enum": ["redis", "postgres", "file", "memory"]},
            "degraded": {"type": "boolean"},
            "source": {"enum": ["voiceflow", "demo"]},
            "embedded": array({"type": "string"}),
            "worker": {
                "description": "The web process that answered: its slot of WEB_CONCURRENCY on "
                "this host (a restarted worker keeps it), its pid, and how many share the port.",
                **obj({"index": INT, "pid": INT, "of": INT}),
            },
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
                            "oneOf": [{"type": "null"}, _REPORT],
                        },
                    },
                }
            ),
            "config": {
                "description": "The acting warmer's configuration (null before its first run).",
                "oneOf": [{"type": "null"}, _CONFIG],
            },
            "budget": {
                "description": "The upstream budget's settings and, when probing "
                "(UPSTREAM_RATE_MAX_PER_SECOND), `learned_rate`: the rate the fleet sends at "
                "now, its bounds, its halvings and the rate the last one started from.",
                **_BUDGET,
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
