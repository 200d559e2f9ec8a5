"""Time-zone names: canonical spelling, and the whole-hour rule Voiceflow's hourly data needs."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources


@functools.cache
def _names() -> dict[str, str]:
    """Every accepted spelling (case-folded) → the canonical IANA name.

    Links from tzdata's `tzdata.zi` ("L Europe/Kyiv Europe/Kiev") fold aliases onto their
    target, so "Europe/Kiev", "europe/kyiv" and "Europe/Kyiv" are one cache key.
    """
    canonical = {name.casefold(): name for name in zoneinfo.available_timezones()}
    text = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            canonical[alias.casefold()] = target
    for utc_alias in (
        "utc",
        "etc/utc",
        "etc/uct",
        "uct",
        "etc/universal",
        "universal",
        "zulu",
        "etc/zulu",
        "gmt",
        "etc/gmt",
        "etc/gmt0",
        "etc/gmt+0",
        "etc/gmt-0",
        "gmt0",
        "gmt+0",
        "gmt-0",
        "greenwich",
        "etc/greenwich",
    ):
        canonical[utc_alias] = "UTC"
    return canonical


def canonical_zone(name: str) -> str | None:
    """The canonical IANA name for `name`, or None when no such zone exists."""
    return _names().get(name.strip().casefold())


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


@functools.lru_cache(maxsize=4096)
def non_whole_hour_offset(tz: str, start: date, end: date) -> str | None:
    """The first offset in [start, end] (local dates) that is not whole hours, as text, or None.

    Checked hour by hour in UTC over the range (at most ~8.8k steps for 366 days), so a
    transition in the middle of a day is not missed.
    """
    zi = zone(tz)
    t, last = _rough_window(start, end)
    step = timedelta(minutes=30)  # zones change offset on the hour or half hour
    while t <= last:
        offset = t.astimezone(zi).utcoffset() or timedelta()
        if offset.total_seconds() % 3600:
            minutes = int(offset.total_seconds() // 60)
            sign = "+" if minutes >= 0 else "-"
            return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        t += step
    return None


def _rough_window(start: date, end: date) -> tuple[datetime, datetime]:
    # Local midnights can't be computed safely before the offsets are known to be sane, so
    # cover the widest possible span: every zone is within UTC-12..UTC+14.
    return (
        datetime.combine(start, time(), UTC) - timedelta(hours=14),
        datetime.combine(end + timedelta(days=1), time(), UTC) + timedelta(hours=12),
    )
