"""How far the fetches behind one answer have got, and how long the rest will take.

A request waits only so long for an answer being fetched; past that it is told to come
back (503 + Retry-After) while the fetch goes on. For Retry-After to be honest it must come
from the work still ahead: the days each metric still needs, times the rows a day of that
metric has (learned from its fetches), in pages, over the upstream rate. The computation
publishes its progress to the store, so a request in any process can read it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

PAGE_ROWS = 500  # rows per upstream page (the documented maximum limit)
PUBLISH_EVERY = 1.0  # seconds between publications: Retry-After is in whole seconds anyway


@dataclass(slots=True)
class MetricProgress:
    days_needed: int = 0
    days_done: int = 0
    rows_per_day: float | None = None  # None until a fetch of this metric has told us


@dataclass(slots=True)
class Progress:
    publish: Callable[[bytes], Awaitable[None]] | None = None
    metrics: dict[str, MetricProgress] = field(default_factory=dict)
    pages_fetched: int = 0
    _published_at: float = 0.0

    def days(self, metric: str, needed: int, done: int, rows_per_day: float | None) -> None:
        entry = self.metrics.setdefault(metric, MetricProgress())
        entry.days_needed, entry.days_done = needed, done
        if rows_per_day is not None:
            entry.rows_per_day = rows_per_day

    def page(self) -> None:
        self.pages_fetched += 1

    def pages_left(self) -> float | None:
        """Pages still to fetch, estimated; None while no metric's density is known. A metric
        of unknown density is taken to be as busy as the busiest known one: better to ask a
        client to come back a little late than too early."""
        known = [m.rows_per_day for m in self.metrics.values() if m.rows_per_day is not None]
        if not known:
            return None
        busiest = max(known)
        left = 0.0
        for m in self.metrics.values():
            missing = m.days_needed - m.days_done
            if missing > 0:
                density = m.rows_per_day if m.rows_per_day is not None else busiest
                left += max(1.0, math.ceil(missing * density / PAGE_ROWS))
        return left

    def summary(self) -> dict[str, Any]:
        needed = sum(m.days_needed for m in self.metrics.values())
        done = sum(m.days_done for m in self.metrics.values())
        left = self.pages_left()
        return {
            "metric_days_done": done,
            "metric_days_needed": needed,
            "pages_fetched": self.pages_fetched,
            "pages_left": None if left is None else math.ceil(left),
        }

    async def maybe_publish(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.publish is None or (not force and now - self._published_at < PUBLISH_EVERY):
            return
        self._published_at = now
        await self.publish(orjson.dumps(self.summary()))


_current: contextvars.ContextVar[Progress | None] = contextvars.ContextVar("progress", default=None)


def current() -> Progress | None:
    """The progress of the answer being computed in this task, if any."""
    return _current.get()


@contextlib.contextmanager
def tracking(progress: Progress) -> Iterator[None]:
    token = _current.set(progress)
    try:
        yield
    finally:
        _current.reset(token)


def combine(summaries: list[dict[str, Any]], unstarted: int = 0) -> dict[str, Any] | None:
    """The progress of several computations sharing one rate: their sums. A part that cannot
    tell its pages yet (`unstarted`, or no density known) is taken to need as many as the
    largest that can: a compare's two periods are ranges of one length."""
    if not summaries:
        return None
    out: dict[str, Any] = {}
    for name in ("metric_days_done", "metric_days_needed", "pages_fetched", "pages_left"):
        values = [s.get(name) for s in summaries]
        known = [v for v in values if isinstance(v, int)]
        out[name] = sum(known) if known else None
    known_pages = [s["pages_left"] for s in summaries if isinstance(s.get("pages_left"), int)]
    if known_pages:
        # Silent: has days to fetch but no density to size them by (nothing to fetch: none).
        silent = unstarted + sum(
            not isinstance(s.get("pages_left"), int) and bool(s.get("metric_days_needed"))
            for s in summaries
        )
        out["pages_left"] += silent * max(known_pages)
        out["metric_days_needed"] += unstarted * max(
            s["metric_days_needed"] for s in summaries if isinstance(s.get("pages_left"), int)
        )
    return out


def retry_after(summary: dict[str, Any] | None, rate: float, fallback: float) -> float:
    """Seconds until the work in `summary` is done at `rate` pages a second."""
    if summary is None or summary.get("pages_left") is None:
        return fallback
    return max(1.0, float(summary["pages_left"]) / rate)
