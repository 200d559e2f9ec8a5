"""Fetching days in bounded chunks, newest first, each checkpointed page by page.

At the rate limit, the order and the durability of fetches matter as much as their count:
- **The recent week first.** A run of missing days that reaches today is fetched as its
  newest RECENT_DAYS first: the week a dashboard asks for most is stored within a few pages,
  and an ask for it never waits behind a month's or a year's fill of the same days (the
  budget serves the smallest work first: fleet/queue.py). Other runs are cut only when
  long: a first chunk of LONG_RUN_DAYS teaches the metric's density, then chunks of at most
  MAX_CHUNK_PAGES pages. Each cut costs a window (at most one partial page), so a run in the
  past (a compare's previous period) is cut no more than it must be: not to leave a runt.
- **No page lost.** After each page of a chunk whose days are all closed (their rows never
  change, so a cursor stays valid), its rows and the next cursor are stored. A fetch whose
  process died is resumed by whichever process leases its days next, from the page after
  the last one stored: at most one page is fetched again.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import orjson

from service.analytics import progress as progresses
from service.analytics.catalog import Catalog
from service.analytics.progress import PAGE_ROWS
from service.analytics.rows import split_days
from service.errors import UpstreamBadAnswer
from service.fleet import queue
from service.store.base import Store
from service.store.keys import CHECKPOINT_TTL_SECONDS, DENSITY_TTL_SECONDS, Keys
from service.upstream.voiceflow import VoiceflowClient

RECENT_DAYS = 8  # a local week spans up to 8 UTC days: the range dashboards ask for most
LONG_RUN_DAYS = 32  # a month in any zone (32 UTC days at most) is one query: a cut costs a page
MAX_CHUNK_PAGES = 120  # about 12 s of the default budget: the longest any ask waits behind
RUNT_SHARE = 4  # a chunk takes in up to a quarter more days rather than leave them a window
PACK_LEVEL = 1  # checkpointed pages live minutes: compress fast, not small

Row = dict[str, Any]


def chunk_id(first: date, last: date) -> str:
    return f"{first:%Y%m%d}-{last:%Y%m%d}"


def parse_chunk_id(text: str) -> tuple[date, date] | None:
    try:
        first, last = text.split("-")
        return (
            datetime.strptime(first, "%Y%m%d").date(),
            datetime.strptime(last, "%Y%m%d").date(),
        )
    except ValueError:
        return None


def newest_chunk(
    days: Sequence[date], rows_per_day: float | None, today: date
) -> tuple[date, date]:
    """The chunk to fetch next out of `days` (missing and leased): the newest days of the
    newest contiguous run; the recent week alone when the run reaches today (or yesterday),
    a month when the run is long and the density unknown, else at most what fits in
    MAX_CHUNK_PAGES pages at the known density; the whole run when a cut would leave at most
    a quarter of the chunk's days."""
    ordered = sorted(days)
    last = first = ordered[-1]
    for d in reversed(ordered[:-1]):
        if d != first - timedelta(days=1):
            break
        first = d
    length = (last - first).days + 1
    if last >= today - timedelta(days=1):
        return max(first, last - timedelta(days=RECENT_DAYS - 1)), last
    if length <= LONG_RUN_DAYS:
        return first, last
    if rows_per_day is None:  # a first fetch of this metric: a month, which teaches us
        size = LONG_RUN_DAYS
    else:
        size = max(RECENT_DAYS, int(MAX_CHUNK_PAGES * PAGE_ROWS / max(rows_per_day, 1.0)))
    if length - size <= size // RUNT_SHARE:  # what a cut would leave costs a window of its own
        return first, last
    return last - timedelta(days=size - 1), last


def _split_and_pack(
    metric: str, rows: list[Row], first: date, last: date, fetched_at: float
) -> list[tuple[date, bytes]]:
    run = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [(d, day.pack()) for d, day in split_days(metric, rows, run, fetched_at).items()]


class ChunkFetcher:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        client: VoiceflowClient,
        executor: Executor,
        *,
        is_closed: Callable[[date, float], bool],
        ttl: Callable[[bool], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._client = client
        self._executor = executor
        self._is_closed = is_closed
        self._ttl = ttl
        self._clock = clock
        self._catalog = Catalog(store, keys, clock)  # what an invalidation may drop

    async def density(self, project_id: str, metric: str) -> float | None:
        """Upstream rows per day of this (project, metric), as its last fetch found."""
        raw = await self._store.get(self._keys.density(project_id, metric))
        try:
            return None if raw is None else float(raw)
        except ValueError:
            return None

    async def resumable(
        self, project_id: str, metric: str, days: Sequence[date]
    ) -> tuple[date, date] | None:
        """A checkpointed chunk lying wholly within `days` (leased by the caller), if any."""
        pointers = await self._store.mget(
            [self._keys.checkpoint_of(project_id, metric, d) for d in days]
        )
        held = set(days)
        for raw in {p for p in pointers if p is not None}:
            chunk = parse_chunk_id(raw.decode())
            if chunk is None:
                continue
            first, last = chunk
            span = {first + timedelta(days=i) for i in range((last - first).days + 1)}
            if span <= held:
                return chunk
        return None

    async def fetch(
        self, project_id: str, metric: str, first: date, last: date, density: float | None
    ) -> None:
        """Fetch, split and store the days first..last (the caller holds their leases)."""
        start = datetime.combine(first, dtime(), UTC)
        end = datetime.combine(last + timedelta(days=1), dtime(), UTC) - timedelta(milliseconds=1)
        fetched_at = self._clock()
        ck = _Checkpoint(self._store, self._keys, self._executor, project_id, metric, first, last)
        durable = self._is_closed(last, fetched_at)  # open days' rows, and cursors, may move
        rows, cursor, pages = await ck.load() if durable else ([], None, 0)
        if durable and not pages:
            await ck.start()
        tracker = progresses.current()
        days = (last - first).days + 1
        # Pages it should take, from the density the caller read (None: not known yet).
        expected = None if density is None else max(1.0, math.ceil(days * density / PAGE_ROWS))

        def days_left() -> float:
            """The work left, in days: what an answer waits for. (Every metric of a range is
            needed at once, so ranking by days puts a week's metrics all before a month's.)"""
            return days if expected is None else days * max(0.0, 1 - pages / expected)

        with queue.sizing(days_left):  # shortest work first, at the budget
            try:
                async for items, after in self._client.pages(
                    project_id, metric, start, end, cursor=cursor, pages_done=pages
                ):
                    rows.extend(items)
                    pages += 1
                    if durable and after is not None:  # the last page needs none
                        await ck.save(pages, items, after)
                    if tracker is not None:
                        tracker.page()
                        await tracker.maybe_publish()
            except UpstreamBadAnswer:
                # A garbage answer puts the cursors before it in doubt too (one that never
                # ends looks fine page by page): the next fetch starts over, from nothing kept.
                if durable:
                    await ck.drop(pages)
                raise
        loop = asyncio.get_running_loop()  # a year of rows takes ~0.1 s to split: not on the loop
        packed = await loop.run_in_executor(
            self._executor, _split_and_pack, metric, rows, first, last, fetched_at
        )
        ttls = {d: self._ttl(self._is_closed(d, fetched_at)) for d, _ in packed}
        now = self._clock()
        await asyncio.gather(
            self._store.set_many(
                [(self._keys.day(project_id, metric, d), raw, ttls[d]) for d, raw in packed]
                + [
                    (
                        self._keys.density(project_id, metric),
                        b"%.3f" % (len(rows) / days),
                        DENSITY_TTL_SECONDS,
                    )
                ]
            ),
            self._catalog.days(project_id, metric, [(d, now + ttl) for d, ttl in ttls.items()]),
        )
        if durable:
            await ck.drop(pages)


def _pack_page(items: list[Row]) -> bytes:
    return zlib.compress(orjson.dumps(items), PACK_LEVEL)


def _unpack_pages(raws: list[bytes | None]) -> list[Row]:
    rows: list[Row] = []
    for raw in raws:
        rows.extend(orjson.loads(zlib.decompress(raw)) if raw is not None else ())
    return rows


class _Checkpoint:
    """One chunk's stored pages and cursor, and the per-day pointers that find it."""

    def __init__(
        self,
        store: Store,
        keys: Keys,
        executor: Executor,
        project_id: str,
        metric: str,
        first: date,
        last: date,
    ) -> None:
        self._store = store
        self._executor = executor
        self._keys = keys
        self._project, self._metric = project_id, metric
        self._first, self._last = first, last
        self._id = chunk_id(first, last)
        self._meta = keys.checkpoint(project_id, metric, self._id)
        self._catalog = Catalog(store, keys)

    def _days(self) -> list[date]:
        return [self._first + timedelta(days=i) for i in range((self._last - self._first).days + 1)]

    def _page(self, n: int) -> str:
        return self._keys.checkpoint_page(self._project, self._metric, self._id, n)

    async def load(self) -> tuple[list[Row], Any, int]:
        """The rows, cursor and page count stored so far; nothing when any page is lost."""
        raw = await self._store.get(self._meta)
        if raw is None:
            return [], None, 0
        meta = orjson.loads(raw)
        pages = int(meta["pages"])
        raws = await self._store.mget([self._page(n) for n in range(pages)])
        if any(r is None for r in raws):
            return [], None, 0
        loop = asyncio.get_running_loop()  # a year's pages take tens of ms to unpack
        rows = await loop.run_in_executor(self._executor, _unpack_pages, raws)
        return rows, meta["cursor"], pages

    async def start(self) -> None:
        pointer = self._id.encode()
        await self._store.set_many(
            [
                (
                    self._keys.checkpoint_of(self._project, self._metric, d),
                    pointer,
                    CHECKPOINT_TTL_SECONDS,
                )
                for d in self._days()
            ]
        )

    async def save(self, pages: int, items: list[Row], cursor: Any) -> None:
        """Page `pages` (1-based) and the cursor after it, in one round trip (and, beside
        it, the chunk's catalogue entry, so an invalidation finds it)."""
        meta = orjson.dumps({"pages": pages, "cursor": cursor})
        loop = asyncio.get_running_loop()
        page = await loop.run_in_executor(self._executor, _pack_page, items)
        expires = time.time() + CHECKPOINT_TTL_SECONDS
        await asyncio.gather(
            self._store.set_many(
                [
                    (self._page(pages - 1), page, CHECKPOINT_TTL_SECONDS),
                    (self._meta, meta, CHECKPOINT_TTL_SECONDS),
                ]
            ),
            self._catalog.chunk(self._project, self._metric, self._id, expires),
        )

    async def drop(self, pages: int) -> None:
        await self._store.delete(
            self._meta,
            *(self._page(n) for n in range(pages)),
            *(self._keys.checkpoint_of(self._project, self._metric, d) for d in self._days()),
        )
