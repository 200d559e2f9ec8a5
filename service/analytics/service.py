"""Overview and compare answers: plan, fetch concurrently, assemble off the loop, cache."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any, Literal

from service.analytics.answers import Answer, AnswerCache, CacheStatus
from service.analytics.assemble import build_compare, build_overview
from service.analytics.intents import Intents
from service.analytics.partitions import Partitions, utc_days
from service.analytics.query import Query
from service.analytics.rows import LIST_METRICS, Day
from service.analytics.timezones import utc_window

AnswerKind = Literal["overview", "compare"]
ANSWER_KINDS: tuple[AnswerKind, ...] = ("overview", "compare")


class Analytics:
    def __init__(
        self, partitions: Partitions, intents: Intents, answers: AnswerCache, executor: Executor
    ) -> None:
        self._partitions = partitions
        self._intents = intents
        self._answers = answers
        self._executor = executor
        self._computes = {"overview": self._overview_data, "compare": self._compare_data}

    def answer(self, kind: AnswerKind, query: Query) -> Awaitable[tuple[Answer, CacheStatus]]:
        """The answer of `kind` to `query`, from the cache or computed once fleet-wide. (Not
        a coroutine of its own: the hit path awaits the cache's directly.)"""
        compute = self._computes[kind]
        return self._answers.get(
            kind, query.canonical(), lambda: compute(query), lambda: _parts(kind, query)
        )

    async def overview(self, query: Query) -> tuple[Answer, CacheStatus]:
        return await self.answer("overview", query)

    async def compare(self, query: Query) -> tuple[Answer, CacheStatus]:
        return await self.answer("compare", query)

    async def refresh(self, kind: str, query: Query) -> Answer:
        """Compute `kind` for `query` again now, fresh or not (the warmer's refresh-ahead),
        through the same partitions and single flight as a request."""
        compute = self._computes[kind]
        return await self._answers.refresh(kind, query.canonical(), lambda: compute(query))

    async def refreshing(self, kind: str, query: Query) -> bool:
        """Whether any process of the fleet is computing this answer right now."""
        return await self._answers.computing(kind, query.canonical())

    async def peek(self, kind: str, query: Query) -> Answer | None:
        """The stored answer, if any, without computing anything."""
        return await self._answers.peek(kind, query.canonical())

    async def estimate(self, kind: str, query: Query) -> int:
        """Upstream queries a refresh would cost now, at least (pages beyond the first aside)."""
        queries = [query, query.previous()] if kind == "compare" else [query]
        total = 0
        for q in queries:
            first, last = utc_window(q.start, q.end, q.tz)
            days = utc_days(first, last)
            for metric in LIST_METRICS:
                total += await self._partitions.estimate(q.project_id, metric, days)
            end = last + timedelta(hours=1) - timedelta(milliseconds=1)
            total += await self._intents.estimate(q.project_id, first, end, q.tz)
        return total

    async def _overview_data(self, query: Query) -> dict[str, Any]:
        """Every metric concurrently; assembly (CPU-bound for long ranges) in the executor."""
        first, last = utc_window(query.start, query.end, query.tz)
        days = utc_days(first, last)
        if last < first:  # local dates the zone skipped (e.g. Pacific/Apia on 2011-12-30)
            days = []
        metric_days, intents = await _every(
            _every(*(self._partitions.days(query.project_id, m, days) for m in LIST_METRICS)),
            self._intents.top(
                query.project_id,
                first,
                last + timedelta(hours=1) - timedelta(milliseconds=1),
                query.tz,
            ),
        )
        metrics: dict[str, dict[Any, Day]] = dict(zip(LIST_METRICS, metric_days, strict=True))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, build_overview, query, metrics, intents)

    async def _compare_data(self, query: Query) -> dict[str, Any]:
        """Both periods through the overview cache, concurrently, and fresh: a compare is
        stamped with the time it is built, so it must not be built from stale overviews."""
        current, previous = await asyncio.gather(
            self._fresh_overview(query), self._fresh_overview(query.previous())
        )
        return build_compare(current.body(), previous.body())

    async def _fresh_overview(self, query: Query) -> Answer:
        answer, status = await self.overview(query)
        return await self.refresh("overview", query) if status is CacheStatus.STALE else answer


def _parts(kind: str, query: Query) -> list[tuple[str, str]]:
    """The answers a computation of `kind` waits for (asked only when a client is told to
    come back, never on a hit)."""
    if kind != "compare":
        return []
    return [("overview", query.canonical()), ("overview", query.previous().canonical())]


async def _every(*parts: Awaitable[Any]) -> list[Any]:
    """asyncio.gather, except that when a part fails the others still run to their end
    before the failure is raised: what they fetch is stored for the next ask, and nothing
    started here runs on unwatched (into the store's close at shutdown)."""
    results = await asyncio.gather(*parts, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
