"""Decaying popularity of answers: what the warmer should keep fresh.

Each answered request bumps its answer's score by one, and every score halves each
`half_life`. Stored scores are kept in units of a moving base time (a bump at `now` adds
2^((now - base) / half_life)), so nothing has to decay in place; when that factor grows
large the set is rescaled and the base moves. The set is trimmed to the most popular
KEEP members, so scores cannot grow without bound and unpopular answers fall out.

Bumps are counted in memory and flushed in one round trip a second, so the hit path pays
a dict increment, nothing more; the pending counts are bounded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from service.store.base import Store
from service.store.keys import Keys

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0  # seconds between flushes: the warmer looks at minutes, not milliseconds
MAX_PENDING = 10_000  # distinct answers counted between flushes; beyond it, bumps are dropped
KEEP = 5_000  # answers scored; the warmer refreshes the top K of them (K is far smaller)
RESCALE_AT = 64.0  # half-lives past the base before scores are rescaled (2^64 is safe)


@dataclass(frozen=True, slots=True)
class PopularitySpec:
    """What the store's scripts need: the sorted set, its base time, the decay."""

    scores: str
    base: str
    half_life: float
    keep: int = KEEP
    rescale_at: float = RESCALE_AT


def member(kind: str, canonical: str) -> str:
    """The scored name of an answer: its kind and canonical question (the warmer parses it)."""
    return f"{kind}|{canonical}"


def parse_member(name: str) -> tuple[str, str]:
    kind, _, canonical = name.partition("|")
    return kind, canonical


class Popularity:
    def __init__(
        self, store: Store, keys: Keys, *, half_life: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.spec = PopularitySpec(keys.popularity, keys.popularity_base, half_life)
        self._store = store
        self._clock = clock
        self._pending: Counter[str] = Counter()

    def bump(self, kind: str, canonical: str) -> None:
        """Count one answer served; never waits, never fails."""
        name = member(kind, canonical)
        if name in self._pending or len(self._pending) < MAX_PENDING:
            self._pending[name] += 1

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        await self._store.bump_scores(self.spec, dict(pending), self._clock())

    async def top(self, k: int) -> list[tuple[str, float]]:
        """The k most popular answers with their scores as of now (hits per half-life-ish)."""
        base, scored = await self._store.top_scores(self.spec, k)
        factor = math.pow(2.0, -(self._clock() - base) / self.spec.half_life) if scored else 1
        return [(name, score * factor) for name, score in scored]

    @contextlib.asynccontextmanager
    async def flushing(self) -> AsyncIterator[None]:
        """Flush every FLUSH_EVERY seconds while open, and once more on the way out.

        Stopped by an event, not a cancel, so a flush in progress is never cut in half."""
        stop = asyncio.Event()
        task = asyncio.create_task(self._run(stop), name="popularity-flush")
        try:
            yield
        finally:
            stop.set()
            await task

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
            try:
                await self.flush()
            except Exception as exc:  # popularity is advisory: never let it take anything down
                log.warning(
                    "popularity flush failed (%s); counts of this second lost", type(exc).__name__
                )
