"""A zone's constant-offset spans: found fast, and exactly as a half-hour walk finds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.analytics.timezones import _segments, zone

# DST north and south, half-hour and 45-minute zones, a zone that dropped DST, a date-line
# jump (Apia skipped 2011-12-30), and Morocco's Ramadan changes (four a year).
ZONES = (
    "UTC",
    "Europe/Helsinki",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "Pacific/Apia",
    "America/Santiago",
    "Asia/Tehran",
    "Europe/Moscow",
)
YEARS = (1995, 2011, 2014, 2022, 2026, 2037)


def walked(tz: str, year: int) -> tuple[tuple[datetime, datetime, int], ...]:
    """The reference: every half hour of the year, its offset."""
    zi, step = zone(tz), timedelta(minutes=30)
    t, stop = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    spans: list[tuple[datetime, datetime, int]] = []
    while t < stop:
        offset = int((t.astimezone(zi).utcoffset() or timedelta()).total_seconds())
        if spans and spans[-1][2] == offset:
            spans[-1] = (spans[-1][0], t, offset)
        else:
            spans.append((t, t, offset))
        t += step
    return tuple(spans)


@pytest.mark.parametrize("tz", ZONES)
def test_the_spans_are_those_a_half_hour_walk_finds(tz: str) -> None:
    for year in YEARS:
        assert _segments.__wrapped__(tz, year) == walked(tz, year), year
