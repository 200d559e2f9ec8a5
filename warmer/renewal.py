"""Renewing open parts ahead of their expiry, spread over the runs.

The open days of the popular projects were mostly fetched together (a morning's first
visits, a fill), so they lapse together, and renewing them all then needs a burst of upstream
requests that the warmer's share of the budget cannot give at once: answers go stale while
it catches up. So each run renews, soonest lapsing first, the parts that later runs could not
fit before they lapse: those lapsing before the next run (plus the margin), and as many more
as later runs, at their share, would have no room for. The first time, that spreads the
burst over the runs ahead of it; after that, the parts stay spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from service.analytics.open_parts import OpenPart
from service.core import Core


def due_now(lefts: Sequence[float], *, interval: float, margin: float, per_run: float) -> int:
    """How many of the parts, by seconds left (ascending), this run must renew.

    A part with `left` seconds can still be renewed by the runs that start before it lapses
    (less the margin). The first i parts all lapse by the i-th's time, so whatever of them
    the later runs cannot take (`per_run` each) falls to this one.
    """
    due = 0
    for i, left in enumerate(sorted(lefts)):
        later_runs = max(0, math.floor((left - margin) / interval))
        due = max(due, i + 1 - math.floor(per_run * later_runs))
    return due


async def parts_due(
    core: Core, zones: dict[str, set[str]], *, interval: float, per_run: float
) -> list[OpenPart]:
    """The open parts of these projects (and zones) this run renews, soonest lapsing first."""
    parts = [
        part
        for project_id, tzs in sorted(zones.items())
        for part in await core.open_parts.of(project_id, tzs)
    ]
    parts.sort(key=lambda p: p.left)
    n = due_now(
        [p.left for p in parts],
        interval=interval,
        margin=core.settings.warmer.margin,
        per_run=per_run,
    )
    return parts[:n]
