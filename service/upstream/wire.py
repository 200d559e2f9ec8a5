"""The wire details of Voiceflow's analytics API: its timestamps, its Retry-After, the
shapes of its answers (voiceflow-api.md), apart from the client that speaks it."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any


def iso_z(t: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.sssZ`, the only timestamp form the API takes."""
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def message(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return str(payload["message"])[:200]
    return "no message"


def outcome(status: int) -> str:
    if status == 200:
        return "ok"
    if status == 429:
        return "429"
    return "5xx" if status >= 500 else "4xx"


def rows(payload: Any) -> int:
    """Items of a list metric's page, or intents of top_intents."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict):
        return 0
    found = result.get("items", result.get("intents"))
    return len(found) if isinstance(found, list) else 0
