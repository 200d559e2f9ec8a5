"""The last ten minutes of this process, for the ops page: its counters sampled every 10 s.

Prometheus keeps the fleet's history; this is only what one process has seen lately, so the
ops page can draw it with no Prometheus at hand. Each sample holds the counters' running
totals (read from `metrics.REGISTRY`) and the fleet bucket's tokens; the page draws the
differences between neighbours, and a last, partial interval up to the moment it is asked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from itertools import pairwise

from service import metrics

log = logging.getLogger(__name__)

EVERY = 10.0  # seconds between samples: the page refreshes as often
KEPT = 61  # samples: 60 intervals, ten minutes
CACHE_OUTCOMES = ("HIT", "STALE", "MISS")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # Unix time
    api: float  # HTTP requests to /api/* answered (dashboards' and tools' traffic)
    hit: float  # ... of them with X-Cache HIT
    stale: float  # ... STALE (served from the cache too, refreshed behind)
    miss: float  # ... MISS
    user: float  # upstream requests sent at user priority
    background: float  # ... at background or warming priority
    limited: float  # ... answered 429
    tokens: float | None  # tokens in the fleet's bucket then (None: the store did not say)


@dataclass(frozen=True, slots=True)
class Interval:
    """What happened between two samples, per second (an interval may be partial)."""

    start: float
    seconds: float
    api: float
    hit_ratio: float | None  # served from the cache (HIT or STALE) / cache outcomes; None: none
    user: float
    background: float
    limited: float
    tokens: float | None  # at the interval's end


def read_counters(at: float, tokens: float | None) -> Sample:
    """The running totals now, from the process's registry."""
    api = user = background = limited = 0.0
    cache = dict.fromkeys(CACHE_OUTCOMES, 0.0)
    # The two collectors it reads, not the whole registry (whose process collector reads
    # /proc files: file I/O on the loop every sample, for nothing).
    for family in [*metrics.REQUESTS.collect(), *metrics.UPSTREAM_REQUESTS.collect()]:
        if family.name == "vfac_http_requests":
            for s in family.samples:
                if s.name.endswith("_total") and s.labels["route"].startswith("/api/"):
                    api += s.value
                    if s.labels["cache"] in cache:
                        cache[s.labels["cache"]] += s.value
        elif family.name == "vfac_upstream_requests":
            for s in family.samples:
                if not s.name.endswith("_total"):
                    continue
                if s.labels["priority"] == "user":
                    user += s.value
                else:
                    background += s.value
                limited += s.value if s.labels["outcome"] == "429" else 0.0
    return Sample(
        at, api, cache["HIT"], cache["STALE"], cache["MISS"], user, background, limited, tokens
    )


def between(a: Sample, b: Sample) -> Interval:
    seconds = max(b.at - a.at, 1e-3)
    hits = (b.hit - a.hit) + (b.stale - a.stale)
    outcomes = hits + (b.miss - a.miss)
    return Interval(
        start=a.at,
        seconds=seconds,
        api=(b.api - a.api) / seconds,
        hit_ratio=hits / outcomes if outcomes > 0 else None,
        user=(b.user - a.user) / seconds,
        background=(b.background - a.background) / seconds,
        limited=(b.limited - a.limited) / seconds,
        tokens=b.tokens,
    )


class History:
    """A bounded deque of samples; `intervals` adds the partial one up to now."""

    def __init__(self, kept: int = KEPT) -> None:
        self.samples: deque[Sample] = deque(maxlen=kept)
        self.started = time.time()

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def intervals(self, now: Sample) -> list[Interval]:
        points = [*self.samples, now]
        return [between(a, b) for a, b in pairwise(points)]


async def _tokens(level: Callable[[], Awaitable[tuple[float, float]]]) -> float | None:
    try:
        async with asyncio.timeout(2.0):
            return (await level())[0]
    except Exception:  # Redis slow or down: a gap in the line, not a dead sampler
        log.debug("ops sampler: no budget level", exc_info=True)
        return None


@asynccontextmanager
async def sampling(
    history: History, level: Callable[[], Awaitable[tuple[float, float]]]
) -> AsyncIterator[None]:
    """Sample every EVERY seconds while open (a task, cancelled and awaited on the way out)."""

    async def run() -> None:
        while True:
            history.add(read_counters(time.time(), await _tokens(level)))
            await asyncio.sleep(EVERY)

    task = asyncio.create_task(run(), name="ops-sampler")
    try:
        yield
    finally:
        # Python 3.11's asyncio.wait_for (inside redis-py) loses a cancel that lands as the
        # reply arrives, and the loop would sample on: cancel again until it has ended.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with suppress(asyncio.CancelledError):
            await task
