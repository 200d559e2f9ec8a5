"""The component schemas of the OpenAPI document: request bodies and answers (`openapi_status`
has the problems and the status answers).

What code defines (the project id's spelling, the date bounds, totals, export formats, page
sizes) is read from that code, so the document cannot drift from what the service accepts and
answers. What JSON Schema cannot state (end >= start, the range's length, the tz rule) is said
in words, as the 400 that enforces it says it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from service.analytics.assemble import TOTAL_FIELDS
from service.analytics.query import EARLIEST, EXPORT_FORMATS, LATEST, PAGE_SIZES
from service.config.settings import Settings
from service.identifiers import PROJECT_ID_RE

INT = {"type": "integer", "minimum": 0}
ID = {"type": "string", "pattern": f"^{PROJECT_ID_RE.pattern}$"}
DATE = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
# A date the API takes: YYYY-MM-DD (ASCII digits) from EARLIEST to LATEST. The pattern says
# 2000..2099 (tests/http/test_openapi_contract.py holds it to EARLIEST and LATEST); `format`
# rules out the days no calendar has (2025-02-30).
ASKED_DATE = {
    "type": "string",
    "format": "date",
    "pattern": r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
}
_ID_RULE = "1 to 64 of A-Z, a-z, 0-9, _ and -"
_MAX_DAYS = {f.name: f.default for f in dataclasses.fields(Settings)}["max_range_days"]


def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A closed object: these properties only, all required unless `required` says."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_REQUEST_FIELDS = {
    "project_id": {**ID, "description": f"Voiceflow project id: {_ID_RULE}."},
    "start": {
        **ASKED_DATE,
        "description": f"First local date, inclusive, {EARLIEST} to {LATEST}.",
    },
    "end": {
        **ASKED_DATE,
        "description": f"Last local date, inclusive, {EARLIEST} to {LATEST}; on or after "
        f"start, and the range (end - start + 1 days) at most MAX_RANGE_DAYS ({_MAX_DAYS} by "
        "default), else 400 naming `end`.",
    },
    "tz": {
        "type": "string",
        "default": "UTC",
        "examples": ["UTC", "Europe/Helsinki", "America/New_York"],
        "description": "The zone `start` and `end` are local dates in: an IANA time zone name "
        "(any letter case; aliases such as Europe/Kiev or GMT are accepted and answered under "
        "their canonical name) whose UTC offset is a whole number of hours on every day of the "
        "range, as Voiceflow's data is hourly. Asia/Kolkata (+05:30) is never accepted; a zone "
        "that had a fractional offset only in some years is accepted for other ranges. "
        "Otherwise 400 naming `tz`.",
    },
    "environment_id": {
        "oneOf": [ID, {"type": "null"}],
        "default": None,
        "description": f"Only rows of this Voiceflow environment ({_ID_RULE}); null: all. Top "
        "intents are not per environment and always cover all.",
    },
}
_RANGE = obj(
    {
        "start": DATE,
        "end": DATE,
        "tz": {"type": "string"},
        "days": {"type": "integer", "minimum": 1},
    }
)
_TOTALS = obj({f: INT for f in TOTAL_FIELDS})
_META = obj(
    {
        "source": {"enum": ["voiceflow", "demo"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "fresh_until": {"type": "string", "format": "date-time"},
        "stale": {"type": "boolean"},
    }
)
_NOTES = obj({"unique_users": {"type": "string"}})
_NAMED = obj(
    {"id": {"type": "string"}, "name": {"type": "string"}, "count": INT, "success_count": INT}
)
ENV = {"oneOf": [ID, {"type": "null"}]}
_CANONICAL = {
    "type": "string",
    "description": "project_id|start|end|tz|environment_id (`*` for none)",
}

SCHEMAS: dict[str, Any] = {
    "AnalyticsRequest": obj(_REQUEST_FIELDS, ["project_id", "start", "end"]),
    "ExportRequest": obj(
        {
            **_REQUEST_FIELDS,
            "format": {"enum": list(EXPORT_FORMATS)},
            "page_size": {"enum": list(PAGE_SIZES), "default": "A4"},
        },
        ["project_id", "start", "end", "format"],
    ),
    "Overview": obj(
        {
            "project_id": ID,
            "environment_id": ENV,
            "range": _RANGE,
            "totals": _TOTALS,
            "daily": array(obj({"date": DATE, **{f: INT for f in TOTAL_FIELDS}})),
            "breakdowns": obj(
                {
                    "interactions_by_type": array(obj({"type": {"type": "string"}, "count": INT})),
                    "credits_by_model": array(obj({"model": {"type": "string"}, "count": INT})),
                    "top_intents": array(obj({"name": {"type": "string"}, "count": INT})),
                    "functions": array(_NAMED),
                    "api_tools": array(_NAMED),
                    "integrations": array(
                        obj({"name": {"type": "string"}, "count": INT, "success_count": INT})
                    ),
                    "kb_documents": array(obj({"id": {"type": "string"}, "count": INT})),
                }
            ),
            "notes": _NOTES,
            "meta": _META,
        }
    ),
    "Compare": obj(
        {
            "project_id": ID,
            "environment_id": ENV,
            "range": _RANGE,
            "previous_range": _RANGE,
            "metrics": obj(
                {
                    f: obj(
                        {
                            "current": INT,
                            "previous": INT,
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
    "InvalidateRequest": obj(
        {
            "project_id": {**ID, "description": "Voiceflow project id."},
            "start": {
                "oneOf": [ASKED_DATE, {"type": "null"}],
                "description": f"First UTC day dropped, inclusive, {EARLIEST} to {LATEST}; "
                "null or absent: unbounded.",
            },
            "end": {
                "oneOf": [ASKED_DATE, {"type": "null"}],
                "description": f"Last UTC day dropped, inclusive, {EARLIEST} to {LATEST}; on or "
                "after start, else 400 naming `end`; null or absent: unbounded. Both "
                "unbounded: the whole project.",
            },
        },
        ["project_id"],
    ),
    "Invalidated": obj(
        {
            "project_id": ID,
            "start": {"oneOf": [DATE, {"type": "null"}]},
            "end": {"oneOf": [DATE, {"type": "null"}]},
            "dropped": obj(
                {
                    "days": {**INT, "description": "Day partitions: (metric, UTC day) pairs."},
                    "checkpoints": {**INT, "description": "Checkpointed chunk fetches."},
                    "intents_windows": {**INT, "description": "Cached top_intents windows."},
                    "answers": {**INT, "description": "Stored overview and compare answers."},
                    "exports": {**INT, "description": "Rendered export files."},
                }
            ),
            "answers": {
                **array(obj({"kind": {"enum": ["overview", "compare"]}, "query": _CANONICAL})),
                "description": "The dropped answers' canonical questions (the first 100).",
            },
            "answers_truncated": {"type": "boolean"},
        }
    ),
}
