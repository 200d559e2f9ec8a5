"""Deterministic analytics data of simulated projects: what the API would answer, no I/O.

Rows are a pure function of (project, metric, UTC hour) and the clock `now`: hours after `now`
have no rows, and the hour containing `now` shows the full hour scaled by its elapsed share, so
"today" keeps growing. Lists come back in the API's order: a stable hash of each row's
identity, which is deliberately not time order.
"""

from __future__ import annotations

import bisect
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from simulator.catalog import profile
from simulator.generate import day_intents, day_rows
from simulator.timestamps import DAY_S, HOUR_S, ceil_hour, epoch_seconds, floor_hour, period

LIST_METRICS: tuple[str, ...] = (
    "interactions",
    "unique_users",
    "credit_usage",
    "function_usage",
    "api_calls",
    "kb_documents",
    "integrations",
)
METRICS: tuple[str, ...] = (*LIST_METRICS, "top_intents")
# No project has data before this; it bounds the work an absurdly wide window can cause.
DATA_START = datetime(2020, 1, 1, tzinfo=UTC)

# (sort key, hour start in seconds since 1970, template index, count, successCount or -1)
RawRow = tuple[int, int, int, int, int]


def _span(start: datetime, end: datetime, now: datetime) -> tuple[int, int, float]:
    """First and last hour (epoch seconds) that may hold rows, and now in epoch seconds."""
    now_s = epoch_seconds(now)
    first = ceil_hour(max(epoch_seconds(start), epoch_seconds(DATA_START)))
    last = floor_hour(min(epoch_seconds(end), now_s))
    return first, last, now_s


def _check_list_metric(name: str) -> None:
    if name not in LIST_METRICS:
        raise ValueError(f"{name!r} is not a list metric; expected one of {LIST_METRICS}")


def _hours(project_id: str, name: str, first: int, last: int) -> list[RawRow]:
    """Full-hour rows of hours first..last (epoch seconds), unordered."""
    rows: list[RawRow] = []
    for day in range(first // DAY_S, last // DAY_S + 1):
        for key, hour, template, count, success in day_rows(project_id, name, day):
            epoch = day * DAY_S + hour * HOUR_S
            if first <= epoch <= last:
                rows.append((key, epoch, template, count, success))
    return rows


@lru_cache(maxsize=8)
def _closed_window(project_id: str, name: str, first: int, last: int) -> tuple[RawRow, ...]:
    # Paging re-asks the same window once per page; a year of credit usage is ~50k rows, so
    # remembering the few latest sorted windows saves most of the work of every later page.
    return tuple(sorted(_hours(project_id, name, first, last)))


def ordered_rows(
    project_id: str, name: str, start: datetime, end: datetime, now: datetime
) -> list[RawRow]:
    """Compact rows with start <= period <= end as seen at `now`, in the API's order."""
    _check_list_metric(name)
    first, last, now_s = _span(start, end, now)
    current = floor_hour(now_s)
    rows = list(_closed_window(project_id, name, first, min(last, current - HOUR_S)))
    if first <= current <= last:
        share = (now_s - current) / HOUR_S  # elapsed part of the current hour
        for key, epoch, template, count, success in _hours(project_id, name, current, current):
            scaled = math.floor(count * share)
            if scaled:  # the API never reports a count of 0
                partial = math.floor(success * share) if success >= 0 else -1
                bisect.insort(rows, (key, epoch, template, scaled, partial))
    return rows


def to_item(project_id: str, name: str, row: RawRow) -> dict[str, Any]:
    """One API item from a compact row."""
    _key, epoch, template, count, success = row
    item: dict[str, Any] = {"period": period(epoch), "projectID": project_id}
    item.update(profile(project_id).plans[name].templates[template])
    item["count"] = count
    if success >= 0:
        item["successCount"] = success
    return item


def rows_between(
    project_id: str, name: str, start: datetime, end: datetime, now: datetime
) -> list[dict[str, Any]]:
    """All rows with start <= period <= end (inclusive, aware UTC datetimes), in API order."""
    return [
        to_item(project_id, name, row) for row in ordered_rows(project_id, name, start, end, now)
    ]


def hour_rows(project_id: str, name: str, hour: datetime, now: datetime) -> list[dict[str, Any]]:
    """Rows of one list metric for one UTC hour (hour = aware UTC datetime at :00)."""
    if epoch_seconds(hour) % HOUR_S:
        raise ValueError(f"{hour.isoformat()} is not the start of a UTC hour")
    return rows_between(project_id, name, hour, hour, now)


def top_intents(
    project_id: str, start: datetime, end: datetime, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """[{"name", "count"}] over hours start<=hour<=end, count desc (ties by name), <= limit."""
    first, last, now_s = _span(start, end, now)
    current = floor_hour(now_s)
    share = (now_s - current) / HOUR_S
    names = [name for name, _share in profile(project_id).intents]
    totals = [0] * len(names)
    for day in range(first // DAY_S, last // DAY_S + 1):
        for hour, counts in enumerate(day_intents(project_id, day)):
            epoch = day * DAY_S + hour * HOUR_S
            if epoch < first or epoch > last:
                continue
            for i, count in enumerate(counts):
                totals[i] += math.floor(count * share) if epoch == current else count
    ranked = sorted((-count, name) for name, count in zip(names, totals, strict=True) if count)
    return [{"name": name, "count": -negative} for negative, name in ranked[: max(0, limit)]]
