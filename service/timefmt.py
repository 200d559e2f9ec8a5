"""Timestamps as clients read them: ISO 8601 in UTC, to the second, with a `Z`.

One spelling for every answer, report and status page (the upstream wire format, with
milliseconds, is the Voiceflow client's own business).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso_utc(ts: float) -> str: ...
@overload
def iso_utc(ts: float | None) -> str | None: ...
def iso_utc(ts: float | None) -> str | None:
    """`2025-01-31T12:00:00Z` for a Unix time; None stays None (a time not known yet)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
