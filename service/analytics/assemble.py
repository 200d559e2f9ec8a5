"""Assembling answers from day partitions: pure functions, no I/O (run in an executor).

Hours are UTC; every zone accepted has whole-hour offsets over the range, so each UTC hour
falls in exactly one local date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from service.analytics.query import Query
from service.analytics.rows import Day
from service.analytics.timezones import utc_window, zone
from service.timefmt import iso_utc

# metric -> (total/daily field for count, field for success count or None)
FIELDS: dict[str, tuple[str, str | None]] = {
    "interactions": ("interactions", None),
    "unique_users": ("unique_users", None),
    "credit_usage": ("credits", None),
    "function_usage": ("function_calls", "function_successes"),
    "api_calls": ("api_calls", "api_successes"),
    "integrations": ("integration_calls", "integration_successes"),
    "kb_documents": ("kb_document_uses", None),
}
TOTAL_FIELDS: tuple[str, ...] = (
    "interactions",
    "unique_users",
    "credits",
    "function_calls",
    "function_successes",
    "api_calls",
    "api_successes",
    "integration_calls",
    "integration_successes",
    "kb_document_uses",
)
UNIQUE_USERS_NOTE = (
    "unique_users is the sum of Voiceflow's hourly distinct-user counts: a user "
    "active in several hours is counted once per hour"
)

_EPOCH = date(1970, 1, 1).toordinal()


def _hour_index(day: date, hour: int) -> int:
    return (day.toordinal() - _EPOCH) * 24 + hour


def local_dates(query: Query) -> tuple[list[date], dict[int, int]]:
    """The local dates of the range, and UTC epoch hour → index of its local date."""
    first, last = utc_window(query.start, query.end, query.tz)
    zi = zone(query.tz)
    dates = [query.start + timedelta(days=i) for i in range(query.days)]
    position = {d: i for i, d in enumerate(dates)}
    index: dict[int, int] = {}
    t = first
    while t <= last:
        local = t.astimezone(zi).date()
        index[_hour_index(t.date(), t.hour)] = position[local]
        t += timedelta(hours=1)
    return dates, index


def build_overview(
    query: Query, metrics: Mapping[str, Mapping[date, Day]], intents: list[dict[str, Any]]
) -> dict[str, Any]:
    """Totals, one daily entry per local date, and breakdowns; `meta` is added by the caller."""
    dates, index = local_dates(query)
    daily = [dict.fromkeys(TOTAL_FIELDS, 0) for _ in dates]
    breakdowns: dict[str, dict[tuple[str, str], list[int]]] = {m: {} for m in FIELDS}
    env_filter = query.environment_id
    for metric, (count_field, success_field) in FIELDS.items():
        dims = breakdowns[metric]
        for utc_day, day in metrics[metric].items():
            base = _hour_index(utc_day, 0)
            wanted_env = None
            if env_filter is not None:
                if env_filter not in day.envs:
                    continue
                wanted_env = day.envs.index(env_filter)
            for hour, env, dim, count, success in zip(
                day.hour, day.env, day.dim, day.count, day.success, strict=True
            ):
                at = index.get(base + hour)
                if at is None or (wanted_env is not None and env != wanted_env):
                    continue
                entry = daily[at]
                entry[count_field] += count
                if success_field is not None:
                    entry[success_field] += success
                acc = dims.setdefault(day.dims[dim], [0, 0])
                acc[0] += count
                acc[1] += success
    totals = {f: sum(d[f] for d in daily) for f in TOTAL_FIELDS}
    return {
        "project_id": query.project_id,
        "environment_id": query.environment_id,
        "range": {
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
            "tz": query.tz,
            "days": query.days,
        },
        "totals": totals,
        "daily": [{"date": d.isoformat(), **entry} for d, entry in zip(dates, daily, strict=True)],
        "breakdowns": {
            "interactions_by_type": [
                {"type": i, "count": c} for (i, _), c, _s in _ranked(breakdowns["interactions"])
            ],
            "credits_by_model": [
                {"model": i, "count": c} for (i, _), c, _s in _ranked(breakdowns["credit_usage"])
            ],
            "top_intents": intents,
            "functions": _with_success(breakdowns["function_usage"]),
            "api_tools": _with_success(breakdowns["api_calls"]),
            "integrations": [
                {"name": i, "count": c, "success_count": s}
                for (i, _), c, s in _ranked(breakdowns["integrations"])
            ],
            "kb_documents": [
                {"id": i, "count": c} for (i, _), c, _s in _ranked(breakdowns["kb_documents"])
            ],
        },
        "notes": {"unique_users": UNIQUE_USERS_NOTE},
    }


def _ranked(dims: dict[tuple[str, str], list[int]]) -> list[tuple[tuple[str, str], int, int]]:
    """Count descending, then id, so the order is stable between runs."""
    items = [(key, acc[0], acc[1]) for key, acc in dims.items() if acc[0] or acc[1]]
    return sorted(items, key=lambda item: (-item[1], item[0]))


def _with_success(dims: dict[tuple[str, str], list[int]]) -> list[dict[str, Any]]:
    return [{"id": i, "name": n, "count": c, "success_count": s} for (i, n), c, s in _ranked(dims)]


def build_compare(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """Totals of both periods with the change and percent change of each metric."""
    metrics = {}
    for field in TOTAL_FIELDS:
        now, before = current["totals"][field], previous["totals"][field]
        change = now - before
        metrics[field] = {
            "current": now,
            "previous": before,
            "change": change,
            "percent_change": None if before == 0 else round(100.0 * change / before, 2),
        }
    return {
        "project_id": current["project_id"],
        "environment_id": current["environment_id"],
        "range": current["range"],
        "previous_range": previous["range"],
        "metrics": metrics,
        "notes": current["notes"],
    }


def meta(source: str, generated_at: float, fresh_until: float) -> dict[str, Any]:
    return {
        "source": source,
        "generated_at": iso_utc(generated_at),
        "fresh_until": iso_utc(fresh_until),
        "stale": False,
    }
