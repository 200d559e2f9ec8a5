"""Validation of `POST /v2/query/usage` bodies: 400 on anything the contract forbids.

Strictness is [chosen] where the contract is silent (unknown filter keys, both times required):
a simulator that tolerates what the live API might reject would hide client bugs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from simulator.data import METRICS
from simulator.errors import BadRequest
from simulator.timestamps import parse_iso_z

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
FILTER_KEYS = frozenset({"projectID", "startTime", "endTime", "limit", "cursor"})


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    project_id: str
    start: datetime
    end: datetime
    start_text: str
    end_text: str
    limit: int
    cursor: int | None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def _unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise BadRequest(f"{where} has unknown field(s): {', '.join(extra)}")


def _time(filt: dict[str, Any], key: str) -> tuple[datetime, str]:
    text = filt.get(key)
    if text is None:
        raise BadRequest(f"data.filter.{key} is required")
    moment = parse_iso_z(text) if isinstance(text, str) else None
    if moment is None:
        raise BadRequest(f"data.filter.{key} must be a UTC time like 2025-11-01T00:00:00.000Z")
    return moment, text


def parse_query(body: Any) -> Query:
    """The query in `body`, or BadRequest naming the first field that is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    _unknown(body, frozenset({"data"}), "the body")
    data = body.get("data")
    if not isinstance(data, dict):
        raise BadRequest("data is required and must be an object")
    _unknown(data, frozenset({"name", "filter"}), "data")
    name = data.get("name")
    if name is None:
        raise BadRequest("data.name is required")
    if name not in METRICS:
        raise BadRequest(f"data.name must be one of: {', '.join(METRICS)}")
    filt = data.get("filter")
    if not isinstance(filt, dict):
        raise BadRequest("data.filter is required and must be an object")
    _unknown(filt, FILTER_KEYS, "data.filter")
    project_id = filt.get("projectID")
    if not isinstance(project_id, str) or not project_id:
        raise BadRequest("data.filter.projectID is required and must be a non-empty string")
    start, start_text = _time(filt, "startTime")
    end, end_text = _time(filt, "endTime")
    if start > end:
        raise BadRequest("data.filter.startTime must not be after data.filter.endTime")
    limit = filt.get("limit", DEFAULT_LIMIT)
    if not _is_int(limit) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"data.filter.limit must be an integer from 1 to {MAX_LIMIT}")
    cursor = filt.get("cursor")
    if "cursor" in filt and (not _is_int(cursor) or cursor < 0):
        raise BadRequest("data.filter.cursor must be a non-negative integer")
    return Query(name, project_id, start, end, start_text, end_text, limit, cursor)


def requested_project(body: Any) -> str | None:
    """data.filter.projectID if the body names one, for the auth check that precedes validation."""
    project_id = log_fields(body)["projectID"]
    return project_id if isinstance(project_id, str) else None


def log_fields(body: Any) -> dict[str, Any]:
    """What the stats log records of a request; fields the body lacks are None."""
    data = body.get("data") if isinstance(body, dict) else None
    data = data if isinstance(data, dict) else {}
    filt = data.get("filter")
    filt = filt if isinstance(filt, dict) else {}
    return {
        "name": data.get("name"),
        "projectID": filt.get("projectID"),
        "startTime": filt.get("startTime"),
        "endTime": filt.get("endTime"),
        "cursor": filt.get("cursor"),
    }
