"""The component schemas of the OpenAPI document: request bodies, answers, problems, status.

Field lists that code defines (totals, export formats, page sizes) are read from that code,
so the document cannot drift from what the service accepts and answers.
"""

from __future__ import annotations

from typing import Any

from service.analytics.assemble import TOTAL_FIELDS
from service.analytics.query import EXPORT_FORMATS, PAGE_SIZES

_INT = {"type": "integer", "minimum": 0}
_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_ASKED_DATE = {**_DATE, "pattern": r"^20\d{2}-\d{2}-\d{2}$"}  # query.py: 2000-01-01..2099-12-31


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_REQUEST_FIELDS = {
    "project_id": {**_ID, "description": "Voiceflow project id."},
    "start": {**_ASKED_DATE, "description": "First local date, inclusive (2000-01-01 on)."},
    "end": {
        **_ASKED_DATE,
        "description": "Last local date, inclusive (to 2099-12-31); >= start; range at most "
        "MAX_RANGE_DAYS days.",
    },
    "tz": {
        "type": "string",
        "default": "UTC",
        "description": "IANA zone whose offsets are whole hours over the range.",
    },
    "environment_id": {
        "oneOf": [_ID, {"type": "null"}],
        "default": None,
        "description": "Only rows of this Voiceflow environment (top intents "
        "are not per environment and always cover all).",
    },
}
_RANGE = _obj(
    {
        "start": _DATE,
        "end": _DATE,
        "tz": {"type": "string"},
        "days": {"type": "integer", "minimum": 1},
    }
)
_TOTALS = _obj({f: _INT for f in TOTAL_FIELDS})
_META = _obj(
    {
        "source": {"enum": ["voiceflow", "demo"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "fresh_until": {"type": "string", "format": "date-time"},
        "stale": {"type": "boolean"},
    }
)
_NOTES = _obj({"unique_users": {"type": "string"}})
_NAMED = _obj(
    {"id": {"type": "string"}, "name": {"type": "string"}, "count": _INT, "success_count": _INT}
)
_ENV = {"oneOf": [_ID, {"type": "null"}]}
_CANONICAL = {
    "type": "string",
    "description": "project_id|start|end|tz|environment_id (`*` for none)",
}

SCHEMAS: dict[str, Any] = {
    "AnalyticsRequest": _obj(_REQUEST_FIELDS, ["project_id", "start", "end"]),
    "ExportRequest": _obj(
        {
            **_REQUEST_FIELDS,
            "format": {"enum": list(EXPORT_FORMATS)},
            "page_size": {"enum": list(PAGE_SIZES), "default": "A4"},
        },
        ["project_id", "start", "end", "format"],
    ),
    "Overview": _obj(
        {
            "project_id": _ID,
            "environment_id": _ENV,
            "range": _RANGE,
            "totals": _TOTALS,
            "daily": _list(_obj({"date": _DATE, **{f: _INT for f in TOTAL_FIELDS}})),
            "breakdowns": _obj(
                {
                    "interactions_by_type": _list(
                        _obj({"type": {"type": "string"}, "count": _INT})
                    ),
                    "credits_by_model": _list(_obj({"model": {"type": "string"}, "count": _INT})),
                    "top_intents": _list(_obj({"name": {"type": "string"}, "count": _INT})),
                    "functions": _list(_NAMED),
                    "api_tools": _list(_NAMED),
                    "integrations": _list(
                        _obj({"name": {"type": "string"}, "count": _INT, "success_count": _INT})
                    ),
                    "kb_documents": _list(_obj({"id": {"type": "string"}, "count": _INT})),
                }
            ),
            "notes": _NOTES,
            "meta": _META,
        }
    ),
    "Compare": _obj(
        {
            "project_id": _ID,
            "environment_id": _ENV,
            "range": _RANGE,
            "previous_range": _RANGE,
            "metrics": _obj(
                {
                    f: _obj(
                        {
                            "current": _INT,
                            "previous": _INT,
                            "change": {"type": "integer"},
                            "percent_change": {"type": ["number", "null"]},
                        }
                    )
                    for f in TOTAL_FIELDS
                }
            ),
            "notes": _NOTES,
            "meta": _META,
        }
    ),
    "InvalidateRequest": _obj(
        {
            "project_id": {**_ID, "description": "Voiceflow project id."},
            "start": {
                "oneOf": [_ASKED_DATE, {"type": "null"}],
                "description": "First UTC day dropped, inclusive; absent: unbounded.",
            },
            "end": {
                "oneOf": [_ASKED_DATE, {"type": "null"}],
                "description": "Last UTC day dropped, inclusive (>= start); absent: unbounded. "
                "Both absent: the whole project.",
            },
        },
        ["project_id"],
    ),
    "Invalidated": _obj(
        {
            "project_id": _ID,
            "start": {"oneOf": [_DATE, {"type": "null"}]},
            "end": {"oneOf": [_DATE, {"type": "null"}]},
            "dropped": _obj(
                {
                    "days": {**_INT, "description": "Day partitions: (metric, UTC day) pairs."},
                    "checkpoints": {**_INT, "description": "Checkpointed chunk fetches."},
                    "intents_windows": {**_INT, "description": "Cached top_intents windows."},
                    "answers": {**_INT, "description": "Stored overview and compare answers."},
                    "exports": {**_INT, "description": "Rendered export files."},
                }
            ),
            "answers": {
                **_list(_obj({"kind": {"enum": ["overview", "compare"]}, "query": _CANONICAL})),
                "description": "The dropped answers' canonical questions (the first 100).",
            },
            "answers_truncated": {"type": "boolean"},
        }
    ),
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
                    _obj(
                        {
                            "metric_days_done": _INT,
                            "metric_days_needed": _INT,
                            "pages_fetched": _INT,
                            "pages_left": {"oneOf": [_INT, {"type": "null"}]},
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
            "embedded": _list({"type": "string"}),
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
            "jobs": _list(
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
            "top": _list(
                {
                    "type": "object",
                    "required": ["kind", "project_id", "start", "end", "tz", "score", "state"],
                    "properties": {
                        "kind": {"enum": ["overview", "compare"]},
                        "project_id": _ID,
                        "start": _DATE,
                        "end": _DATE,
                        "tz": {"type": "string"},
                        "environment_id": _ENV,
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
            "failing": _list({"type": "string"}),
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
