"""Prometheus metrics: what every layer counts, in one registry per process.

The hit path counts through `Requests` (plain dicts, exported by a collector when scraped):
prometheus_client's locked children would cost a hit several times as much.
What lives in the store (the fleet's tokens, its pause, the warmer's heartbeat) is not
counted here but read when scraped (http/metrics_view.py), with a fixed number of commands.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

# A `_created` series per counter would double a scrape, for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Seconds: a hit takes well under a millisecond, a cold answer up to UPSTREAM_MAX_WAIT_SECONDS.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
AGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400)

UPSTREAM_REQUESTS = Counter(
    "vfac_upstream_requests",
    "Requests sent to Voiceflow, by metric name, priority (user, background, warm) and "
    "outcome (ok, 429, 5xx, 4xx, timeout, error).",
    ["metric", "priority", "outcome"],
    registry=REGISTRY,
)
UPSTREAM_ROWS = Counter(
    "vfac_upstream_rows",
    "Rows (list metrics) or intents (top_intents) received from Voiceflow, by metric name.",
    ["metric"],
    registry=REGISTRY,
)
UPSTREAM_DURATION = Histogram(
    "vfac_upstream_request_duration_seconds",
    "Time Voiceflow took to answer one request, by metric name.",
    ["metric"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
BUDGET_WAIT = Histogram(
    "vfac_budget_wait_seconds",
    "Time an upstream request waited for a token of the fleet's budget, by priority.",
    ["priority"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
BUDGET_TOKENS = Gauge(
    "vfac_budget_tokens",
    "Tokens left in the fleet's upstream bucket (read from the store when scraped).",
    registry=REGISTRY,
)
BUDGET_PAUSED_UNTIL = Gauge(
    "vfac_budget_paused_until_timestamp_seconds",
    "Until when the fleet pauses upstream requests after a 429 (Unix time; 0: no pause).",
    registry=REGISTRY,
)
BUDGET_RATE = Gauge(
    "vfac_budget_rate_per_second",
    "Upstream requests a second the fleet's budget allows now (learned, or as configured).",
    registry=REGISTRY,
)
FLIGHTS = Counter(
    "vfac_single_flight",
    "Single-flight computations by this process's part: leader (computed it), joiner "
    "(shared this process's computation), follower (waited for another process's), "
    "refused (not started: the asking client had too many running in this process).",
    ["role"],
    registry=REGISTRY,
)
STORE_DEGRADED = Gauge(
    "vfac_store_degraded",
    "1 while Redis is unreachable and this process serves from its in-process store.",
    registry=REGISTRY,
)
EXPORT_RENDERS = Counter(
    "vfac_export_renders",
    "Export renders by format (csv, pdf) and outcome (ok, timeout, error).",
    ["format", "outcome"],
    registry=REGISTRY,
)
EXPORT_DURATION = Histogram(
    "vfac_export_render_seconds",
    "Time an export render took in its worker, by format.",
    ["format"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
WARMER_RUNS = Counter("vfac_warmer_runs", "Warmer runs, by job.", ["job"], registry=REGISTRY)
WARMER_DONE = Counter(
    "vfac_warmer_items",
    "What warmer runs did, by job and outcome: refreshed (answers), renewed (open parts), "
    "failed, deferred (left to the next run for lack of budget share).",
    ["job", "outcome"],
    registry=REGISTRY,
)
WARMER_UPSTREAM = Counter(
    "vfac_warmer_upstream_requests",
    "Upstream requests the warmer's runs caused, by job.",
    ["job"],
    registry=REGISTRY,
)
WARMER_ALLOWANCE = Counter(
    "vfac_warmer_allowance_requests",
    "Upstream requests the warmer's runs were allowed (their share of the budget), by job.",
    ["job"],
    registry=REGISTRY,
)
WARMER_HEARTBEAT_AGE = Gauge(
    "vfac_warmer_heartbeat_age_seconds",
    "Seconds since the acting warmer's last heartbeat (read from the store when scraped; "
    "+Inf when there is none).",
    registry=REGISTRY,
)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Requests:
    """The hit path's counts, in plain lists: one event-loop thread writes them, and a scrape
    (on the same loop) reads them, so no lock is needed, and counting a hit costs one dict
    lookup and two list updates (prometheus_client's locked children cost several times
    that). Exported as vfac_http_requests_total, vfac_http_request_duration_seconds (both
    read from one latency histogram per route, method, status and cache outcome) and
    vfac_answer_age_seconds.
    """

    def __init__(self) -> None:
        # (route, method, status, cache) -> a count per latency bucket, +Inf, then the sum.
        self._cells: dict[tuple[str, str, int, str], list[float]] = {}
        self._age: dict[str, list[float]] = {}

    def observe(self, route: str, method: str, status: int, cache: str, seconds: float) -> None:
        cell = self._cells.get((route, method, status, cache))
        if cell is None:
            cell = self._cell(route, method, status, cache)
        cell[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        cell[-1] += seconds

    def _cell(self, route: str, method: str, status: int, cache: str) -> list[float]:
        if method not in METHODS:  # a label per made-up method would grow without end
            method = "other"
        key = (route, method, status, cache)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        return cell

    def answer_age(self, kind: str, seconds: float) -> None:
        counts = self._age.get(kind)
        if counts is None:
            counts = self._age[kind] = [0.0] * (len(AGE_BUCKETS) + 2)
        counts[bisect.bisect_left(AGE_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "vfac_http_requests",
            "HTTP requests answered, by route template, method, status and cache outcome "
            "(X-Cache: HIT, STALE, MISS; empty for routes without one).",
            labels=["route", "method", "status", "cache"],
        )
        by_cache: dict[tuple[str, str], list[float]] = {}
        for (route, method, status, cache), cell in self._cells.items():
            requests.add_metric([route, method, str(status), cache], int(sum(cell[:-1])))
            total = by_cache.setdefault((route, cache), [0.0] * len(cell))
            for i, n in enumerate(cell):
                total[i] += n
        yield requests
        latency = HistogramMetricFamily(
            "vfac_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template and cache outcome.",
            labels=["route", "cache"],
        )
        for (route, cache), counts in by_cache.items():
            latency.add_metric([route, cache], _cumulative(LATENCY_BUCKETS, counts), counts[-1])
        yield latency
        age = HistogramMetricFamily(
            "vfac_answer_age_seconds",
            "Age of the analytics answers served (now minus when they were computed), by kind.",
            labels=["kind"],
        )
        for kind, counts in self._age.items():
            age.add_metric([kind], _cumulative(AGE_BUCKETS, counts), counts[-1])
        yield age


def _cumulative(bounds: tuple[float, ...], counts: list[float]) -> list[tuple[str, float]]:
    out, running = [], 0.0
    for bound, n in zip((*bounds, math.inf), counts, strict=False):
        running += n
        out.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
    return out


REQUESTS = Requests()
REGISTRY.register(REQUESTS)


class MemoryStore:
    """The in-process stores' size, read when scraped from the reader the store module
    registers (service/store/memory.py: used bytes, bound, keys, evictions)."""

    def __init__(self) -> None:
        self.reader: Callable[[], tuple[int, int, int, int]] | None = None

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        used, limit, keys, evicted = self.reader() if self.reader else (0, 0, 0, 0)
        yield GaugeMetricFamily(
            "vfac_memory_store_bytes",
            "Bytes the in-process store holds (the embedded store, or the stand-in while "
            "Redis is down), as its bound reckons them.",
            value=used,
        )
        yield GaugeMetricFamily(
            "vfac_memory_store_limit_bytes",
            "The in-process store's bound, CACHE_MEMORY_MAX_MB (0: none).",
            value=limit,
        )
        yield GaugeMetricFamily(
            "vfac_memory_store_keys", "Keys the in-process store holds.", value=keys
        )
        yield CounterMetricFamily(
            "vfac_memory_store_evictions",
            "Keys the in-process store evicted, least recently used first, to keep to its bound.",
            value=evicted,
        )


MEMORY_STORE = MemoryStore()
REGISTRY.register(MEMORY_STORE)
