"""Wants: the days of a (project, metric) the fleet's asks are waiting for, so that a fetch
is cut where the asks are best served, not where the first ask to lease happened to end.

Each fetch of missing days costs a window of its own upstream (a first request, and at most
one partly filled page): fewer windows, fewer requests. Asks over overlapping ranges arrive
together (a dashboard asks for several presets and their previous periods at once), and
each leases the missing days of its own range; so how the same days were cut into windows
depended on which ask leased first — on timing, and so on how many processes shared the
asks. With wants, every ask records its range (a catalogue entry, store/catalog.py, one per
range and living a little longer than a lease), reads everyone's, and leases whole
*segments* of the missing days anyone wants: the runs of those days, cut only

- where a range that reaches today starts (so the answer for the last 30 days never waits
  for the days of a 90-day range beyond its own), unless the segment newer than the cut
  would be shorter than a week (it is taken in whole: a window costs more than its days);
- and, within a segment, by chunks.newest_chunk (the recent week first; size by density).

Only at a budget of at most MERGE_MAX_RATE requests a second: a request saved there is worth
a tenth of a second of every waiting answer's time, while with budget to spare, windows
fetched side by side answer sooner than one window paging through their days in turn
(`bench dashboard` at 1,000 req/s: a cold 30-day overview's first ask to its answer took
up to 7.5 s with segments, 4.9 s without), so there each ask leases its own days.

Past ranges (a compare's previous period) add no cut of their own. Asks that read the same
wants plan the same segments and lease them in one script each, so one of them takes a
whole segment and the others wait for it. So that asks arriving together (a dashboard's
burst, a compare's two periods, spread over processes) do read the same wants, an ask's
first plan reads them GATHER_SECONDS after recording its own: a miss of closed days waits
that much more; a hit, or a miss of today's rows alone (they lapse every minute, and the
recent week is cut the same way whoever asks), never. What an entry names may be stored
already; only days without a stored row count as missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from service.analytics.chunks import RECENT_DAYS, chunk_id, newest_chunk, parse_chunk_id
from service.store import catalog
from service.store.base import Store
from service.store.keys import LEASE_TTL_SECONDS, Keys

WANT_SECONDS = 2 * LEASE_TTL_SECONDS  # recorded again on each pass of an ask; outlives a wait
MERGE_MAX_RATE = 50.0  # req/s of the fleet's budget; above it, asks lease their own days only
GATHER_SECONDS = 0.2  # a first plan's wait for the wants of asks arriving with it
WANTS_KEEP = 256  # ranges remembered per (project, metric); the soonest to lapse go first

Span = tuple[date, date]  # inclusive


def day_runs(days: Iterable[date]) -> list[Span]:
    """Days merged into contiguous inclusive runs, oldest first."""
    runs: list[Span] = []
    for d in sorted(days):
        if runs and d == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def span_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def cut_points(ranges: Iterable[Span], today: date) -> list[date]:
    """Where segments start: the first day of each range reaching today (or yesterday),
    newest first, except where the segment newer than it would be shorter than a week."""
    starts = sorted({first for first, last in ranges if last >= today - timedelta(days=1)})
    newer = today - timedelta(days=RECENT_DAYS - 1)  # the recent week is cut anyway
    cuts = []
    for start in reversed(starts):
        if start <= newer - timedelta(days=RECENT_DAYS):
            cuts.append(start)
            newer = start
    return cuts


def segments(days: Iterable[date], cuts: Sequence[date]) -> list[Span]:
    """The runs of `days`, each also cut before every day of `cuts`, oldest first."""
    starts = set(cuts)
    out: list[Span] = []
    for first, last in day_runs(days):
        start = first
        for d in span_days(first, last)[1:]:
            if d in starts:
                out.append((start, d - timedelta(days=1)))
                start = d
        out.append((start, last))
    return out


def cut_blind(run: Sequence[date], today: date) -> bool:
    """Whether newest_chunk cuts `run` (contiguous) only because the metric's density is not
    known yet: a long run in the past, which a known density may fetch in one window."""
    first, last = min(run), max(run)
    return last < today - timedelta(days=1) and newest_chunk(run, None, today) != (first, last)


def chunk_for(
    run: Sequence[date], density: float | None, today: date, own: set[date]
) -> Span | None:
    """The chunk of `run` (contiguous) to fetch for an ask that needs the days `own`: of the
    run's chunks (chunks.newest_chunk, one after another), the newest holding any of them.
    An ask answers once its own days are in: it fetches nothing it would wait for in vain."""
    while run:
        first, last = newest_chunk(run, density, today)
        if own.intersection(span_days(first, last)):
            return first, last
        run = [d for d in run if d < first]
    return None


class Wants:
    def __init__(self, store: Store, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock

    @classmethod
    def at(
        cls, rate: float, store: Store, keys: Keys, clock: Callable[[], float] = time.time
    ) -> Wants | None:
        """Wants for a fleet whose budget is `rate` requests a second; None above
        MERGE_MAX_RATE, where each ask leases its own days."""
        return cls(store, keys, clock) if rate <= MERGE_MAX_RATE else None

    async def plan(
        self,
        project_id: str,
        metric: str,
        wanted: Sequence[date],
        missing: Sequence[date],
        gather: bool,
    ) -> tuple[list[date], list[date]]:
        """Record that `wanted` (days up to today, of which `missing` are neither stored nor
        in hand) is waited for; the days to lease for it (the whole segments `missing` falls
        in, missing days others want included) and the segments' cuts. An ask's first plan
        (`gather`) gathers the wants of those arriving with it first."""
        key = self._keys.wants(project_id, metric)
        entry = (chunk_id(min(wanted), max(wanted)), int(self._clock() + WANT_SECONDS))
        await catalog.record(self._store, key, [entry], int(self._clock()), WANTS_KEEP)
        if gather:
            await asyncio.sleep(GATHER_SECONDS)
        now = self._clock()
        today = datetime.fromtimestamp(now, UTC).date()
        ranges = [
            span
            for member in await catalog.live(self._store, key, int(now))
            if (span := parse_chunk_id(member)) is not None
        ]
        cuts = cut_points(ranges, today)
        own = set(wanted)
        others = sorted(
            {d for first, last in ranges for d in span_days(first, min(last, today))} - own
        )
        left = await self._store.expires_in([self._keys.day(project_id, metric, d) for d in others])
        todo = set(missing)
        union = todo | {d for d, ttl in zip(others, left, strict=True) if ttl is None}
        take: list[date] = []
        for first, last in segments(union, cuts):
            days = span_days(first, last)
            if todo.intersection(days):
                take += days
        return take, cuts
