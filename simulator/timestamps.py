"""The API's one timestamp form, `YYYY-MM-DDTHH:MM:SS.sssZ`, and UTC hour arithmetic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

HOUR_S = 3600
DAY_S = 86400
_ISO_Z = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_iso_z(text: str) -> datetime | None:
    """The aware UTC datetime of `text`, or None when it is not exactly the API's form."""
    # The regex pins the shape (fromisoformat alone would take offsets, spaces, no millis);
    # strptime then rejects impossible dates such as month 13 or February 30.
    if not _ISO_Z.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_iso_z(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@lru_cache(maxsize=1 << 16)
def period(hour_epoch: int) -> str:
    """The `period` string of the hour starting `hour_epoch` seconds after 1970 (cached: hot)."""
    return format_iso_z(_EPOCH + timedelta(seconds=hour_epoch))


def epoch_seconds(moment: datetime) -> float:
    """Seconds since 1970 of an aware datetime; naive ones are refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware (UTC) datetime")
    return (moment - _EPOCH).total_seconds()


def floor_hour(seconds: float) -> int:
    return int(seconds // HOUR_S) * HOUR_S


def ceil_hour(seconds: float) -> int:
    return -int(-seconds // HOUR_S) * HOUR_S
