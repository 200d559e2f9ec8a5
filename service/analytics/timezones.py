"""Time zones in use: local dates as UTC hours, and the whole-hour rule Voiceflow's hourly data
needs (a name's canonical spelling is `service.identifiers.canonical_zone`)."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta


@functools.cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant at which local `day` starts in `tz` (aware, UTC)."""
    return datetime.combine(day, time(), zone(tz)).astimezone(UTC)


def utc_window(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """[first, last] UTC hours covering local dates start..end inclusive."""
    first = local_midnight_utc(start, tz)
    last = local_midnight_utc(end + timedelta(days=1), tz) - timedelta(hours=1)
    return first, last


def non_whole_hour_offset(tz: str, start: date, end: date) -> str | None:
    """The first offset in force over local dates [start, end] that is not whole hours, as
    text (e.g. "UTC+05:30"), or None. Offsets come from each year's cached segments, so a
    request costs a few comparisons, not a walk over the range."""
    lo, hi = _rough_window(start, end)
    for year in range(lo.year, hi.year + 1):
        for seg_start, seg_end, offset in _segments(tz, year):
            if seg_start <= hi and seg_end >= lo and offset % 3600:
                minutes = offset // 60
                sign = "+" if minutes >= 0 else "-"
                return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return None


@functools.lru_cache(maxsize=2048)
def _segments(tz: str, year: int) -> tuple[tuple[datetime, datetime, int], ...]:
    """(from, to, offset in seconds) spans of one UTC year with a constant offset in `tz`.

    Found by stepping the year in 30-minute steps (zones change offset on the hour or half
    hour) once per zone and year; ~10 ms, then cached."""
    zi = zone(tz)
    t = datetime(year, 1, 1, tzinfo=UTC)
    stop = datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=30)
    spans: list[tuple[datetime, datetime, int]] = []
    while t < stop:
        offset = int((t.astimezone(zi).utcoffset() or timedelta()).total_seconds())
        if spans and spans[-1][2] == offset:
            spans[-1] = (spans[-1][0], t, offset)
        else:
            spans.append((t, t, offset))
        t += step
    return tuple(spans)


def _rough_window(start: date, end: date) -> tuple[datetime, datetime]:
    # Local midnights can't be computed safely before the offsets are known to be sane, so
    # cover the widest possible span: every zone is within UTC-12..UTC+14.
    return (
        datetime.combine(start, time(), UTC) - timedelta(hours=14),
        datetime.combine(end + timedelta(days=1), time(), UTC) + timedelta(hours=12),
    )
