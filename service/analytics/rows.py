"""Upstream rows, normalized per metric and packed compactly per UTC day.

A stored day keeps only what the answers use: hour of day, environment, one dimension
(id + display name), count and success count. Rows that differ only in fields we do not
report (e.g. credit_usage's diagramID/nodeID/type) are summed, which is what makes a day small.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from service.upstream.answers import METRIC_FIELDS, parse_period

LIST_METRICS = (
    "interactions",
    "unique_users",
    "credit_usage",
    "function_usage",
    "api_calls",
    "kb_documents",
    "integrations",
)

# metric -> (field holding the dimension id, field holding its display name)
DIMENSION_FIELDS: dict[str, tuple[str | None, str | None]] = {
    "interactions": ("type", "type"),
    "unique_users": (None, None),
    "credit_usage": ("model", "model"),
    "function_usage": ("functionID", "name"),
    "api_calls": ("apiToolID", "name"),
    "kb_documents": ("documentID", "documentID"),
    "integrations": ("integrationToolName", "integrationToolName"),
}

_FORMAT = 1  # first element of a packed day; bump when the layout changes


@dataclass(frozen=True, slots=True)
class Day:
    """One UTC day of one metric: parallel columns, dictionary-encoded strings."""

    fetched_at: float
    envs: tuple[str, ...]
    dims: tuple[tuple[str, str], ...]  # (id, name)
    hour: tuple[int, ...]  # 0-23, UTC
    env: tuple[int, ...]  # index into envs
    dim: tuple[int, ...]  # index into dims
    count: tuple[int, ...]
    success: tuple[int, ...]

    def pack(self) -> bytes:
        flat = [self.hour, self.env, self.dim, self.count, self.success]
        return zlib.compress(orjson.dumps([_FORMAT, self.fetched_at, self.envs, self.dims, flat]))

    @classmethod
    def unpack(cls, raw: bytes) -> Day | None:
        """The stored day, or None when it is of another format (then it is refetched)."""
        try:
            fmt, fetched_at, envs, dims, flat = orjson.loads(zlib.decompress(raw))
        except (zlib.error, orjson.JSONDecodeError, ValueError, TypeError):
            return None
        if fmt != _FORMAT:
            return None
        return cls(fetched_at, tuple(envs), tuple(tuple(d) for d in dims), *map(tuple, flat))

    @classmethod
    def empty(cls, fetched_at: float) -> Day:
        return cls(fetched_at, (), (), (), (), (), (), ())


def _count(row: dict[str, Any], field: str) -> int:
    value = row.get(field, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"a row with {field} {value!r} got past the client's checks")
    return value


def split_days(
    metric: str, rows: Iterable[dict[str, Any]], days: Iterable[date], fetched_at: float
) -> dict[date, Day]:
    """Group upstream rows into the given UTC days; every day gets an entry, empty or not.

    The client refused every answer with a row it could not place (upstream/answers.py: a
    `period` that is no time or lies outside the window asked, a count that is no integer
    >= 0), so each row here has its place. One that has not is a bug, and raises ValueError
    instead of being dropped or counted as 0: that would store a day silently wrong.
    """
    id_field, name_field = DIMENSION_FIELDS[metric]
    success = "successCount" in METRIC_FIELDS[metric]  # others carry none [doc]
    sums: dict[date, dict[tuple[int, str, str, str], list[int]]] = {d: {} for d in days}
    for row in rows:
        t = parse_period(row.get("period"))
        bucket = sums.get(t.date()) if t is not None else None
        if t is None or bucket is None:
            raise ValueError(f"a row of {metric} has no place in the days asked: {row!r:.200}")
        dim_id = str(row.get(id_field) or "") if id_field else ""
        dim_name = str(row.get(name_field) or dim_id) if name_field else ""
        key = (t.hour, str(row.get("environmentID") or ""), dim_id, dim_name)
        acc = bucket.setdefault(key, [0, 0])
        acc[0] += _count(row, "count")
        acc[1] += _count(row, "successCount") if success else 0
    return {d: _pack_day(groups, fetched_at) for d, groups in sums.items()}


def _pack_day(groups: dict[tuple[int, str, str, str], list[int]], fetched_at: float) -> Day:
    envs: dict[str, int] = {}
    dims: dict[tuple[str, str], int] = {}
    cols: tuple[list[int], ...] = ([], [], [], [], [])
    for (hour, env, dim_id, dim_name), (count, success) in sorted(groups.items()):
        if count == 0 and success == 0:
            continue
        cols[0].append(hour)
        cols[1].append(envs.setdefault(env, len(envs)))
        cols[2].append(dims.setdefault((dim_id, dim_name), len(dims)))
        cols[3].append(count)
        cols[4].append(success)
    return Day(fetched_at, tuple(envs), tuple(dims), *(tuple(c) for c in cols))
