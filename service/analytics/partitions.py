"""Fetch planning over day partitions: fetch only the UTC days that are missing or expired.

For each metric, the days a question needs are read in one MGET; the missing ones (with
the missing days other asks want beside them: wants.py) are leased, merged into segments
and fetched a chunk at a time (chunks.py: newest first, checkpointed), split back into
days and stored — closed days for long, open days (today, or inside the settle delay)
briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from service.analytics import progress as progresses
from service.analytics.chunks import ChunkFetcher
from service.analytics.rows import Day
from service.analytics.wants import Wants, chunk_for, cut_blind, day_runs, segments, span_days
from service.config.settings import Settings
from service.fleet.flight import LEASE_GRACE_SECONDS, acquire, renewing, wait_event
from service.store.base import Store
from service.store.keys import LEASE_RENEW_SECONDS, LEASE_TTL_SECONDS, Keys
from service.upstream.voiceflow import VoiceflowClient

UNPACK_ON_LOOP = 31  # stored days decoded on the loop; more go to the executor


def _unpack(days: Sequence[date], raws: Sequence[bytes | None]) -> dict[date, Day]:
    out = {}
    for d, raw in zip(days, raws, strict=True):
        day = Day.unpack(raw) if raw is not None else None
        if day is not None:
            out[d] = day
    return out


def utc_days(first_hour: datetime, last_hour: datetime) -> list[date]:
    """Every UTC date touched by hours first..last inclusive."""
    d, end = first_hour.date(), last_hour.date()
    days = []
    while d <= end:
        days.append(d)
        d += timedelta(days=1)
    return days


class Partitions:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        client: VoiceflowClient,
        settings: Settings,
        executor: Executor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._executor = executor
        self._store = store
        self._keys = keys
        self._settings = settings
        self._clock = clock
        self._chunks = ChunkFetcher(
            store, keys, client, executor, is_closed=self.is_closed, ttl=self._ttl, clock=clock
        )
        self._wants = Wants.at(settings.upstream_rate, store, keys, clock)  # tight budgets only

    def is_closed(self, day: date, now: float) -> bool:
        """A day that ended more than the settle delay ago never changes again."""
        end = datetime.combine(day + timedelta(days=1), dtime(), UTC).timestamp()
        return end + self._settings.settle <= now

    def _ttl(self, closed: bool) -> float:
        return self._settings.closed_day_ttl if closed else self._settings.open_day_ttl

    def open_days(self, now: float) -> list[date]:
        """The UTC days that may still change (today, and any inside the settle delay)."""
        day = datetime.fromtimestamp(now, UTC).date()
        out = []
        while not self.is_closed(day, now):
            out.append(day)
            day -= timedelta(days=1)
        return out

    async def days(
        self,
        project_id: str,
        metric: str,
        days: Sequence[date],
        *,
        fetched_since: float | None = None,
    ) -> dict[date, Day]:
        """The stored rows of `metric` for each of `days`, fetching what is missing (or, with
        `fetched_since`, what was fetched before then: a renewal ahead of expiry).

        Each missing day is leased before it is fetched (one script for all of them), so two
        requests over overlapping ranges — in any process — never fetch a day twice; with
        it, the missing days other asks want in the same segments (wants.py), so that the
        same days are cut into the same windows whoever leases first. Of the days it
        leased, a caller fetches one chunk per segment (the newest, see chunks.py, or one a
        dead process checkpointed), gives the other days' leases back at once so that
        others may fetch them meanwhile, and plans again. Days leased elsewhere it waits
        for: until word comes that they are stored, or their lease lapses (the holder died).

        While a metric's density is unknown, its first fetch anywhere holds a learning lease
        beside its days; a run that would be cut only for want of the density waits for that
        fetch to teach it, as for a leased day, rather than take a window more than needed.

        The answer is as fresh as the days were when this call read them: a day it has read
        is not read (nor fetched) again while it waits for the others, unless an invalidation
        is announced meanwhile (it may have dropped some): then every day is read again.
        """
        now = self._clock()
        today = datetime.fromtimestamp(now, UTC).date()
        wanted = [d for d in days if d <= today]  # the future has no rows: nothing to fetch
        found: dict[date, Day] = {d: Day.empty(now) for d in days if d > today}
        async with self._store.watch(self._keys.invalidated) as dropped:
            return found | await self._gather(project_id, metric, wanted, fetched_since, dropped)

    async def _gather(
        self,
        project_id: str,
        metric: str,
        wanted: list[date],
        fetched_since: float | None,
        dropped: asyncio.Event,
    ) -> dict[date, Day]:
        """`days`' loop: read, lease, fetch and wait until every day of `wanted` is in hand."""
        done_key = self._keys.days_done(project_id, metric)
        tracker = progresses.current()
        have: dict[date, Day] = {}
        first = True
        while True:
            async with self._store.watch(done_key) as done:
                # Days once read are kept in hand, not read again: an open day read at the
                # start of a long fill may lapse in the store before the fill ends, and
                # reading it again would fetch it again, at the budget's busiest. Unless an
                # invalidation came meanwhile: it may have dropped some of them.
                if dropped.is_set():
                    dropped.clear()
                    have.clear()
                have |= await self._load(
                    project_id, metric, [d for d in wanted if d not in have], fetched_since
                )
                missing = [d for d in wanted if d not in have]
                density = await self._chunks.density(project_id, metric) if missing else None
                if tracker is not None:
                    tracker.days(metric, len(wanted), len(have), density)
                    await tracker.maybe_publish()
                if not missing:
                    return have
                take, cuts = missing, list[date]()  # a renewal renews its own days alone
                if fetched_since is None and self._wants is not None:
                    now = self._clock()  # a miss of open days alone gathers nothing: wants.py
                    gather = first and any(self.is_closed(d, now) for d in missing)
                    take, cuts = await self._wants.plan(project_id, metric, wanted, missing, gather)
                first = False
                token = secrets.token_hex(16)
                leases = {d: Keys.lease(self._keys.day(project_id, metric, d)) for d in take}
                learn = [] if density is not None else [self._learning(project_id, metric)]
                left = await acquire(
                    self._store, [*leases.values(), *learn], token, LEASE_TTL_SECONDS
                )
                teacher = left.pop() if learn else 0.0  # another fetch learns the density
                learning = learn if learn and not teacher else []
                mine = [d for d, wait in zip(take, left, strict=True) if not wait]
                if mine:
                    try:
                        fetched = await self._fetch_some(
                            project_id,
                            metric,
                            mine,
                            density,
                            leases,
                            token,
                            fetched_since,
                            learning,
                            cuts,
                            missing,
                            blind=not teacher,
                        )
                    except BaseException:
                        # Stopped before or while fetching: give back every lease still ours
                        # (compare-and-delete: those already given back are left alone), and
                        # wake those waiting for them to try themselves now, not when the
                        # lease would have lapsed (up to LEASE_TTL_SECONDS after a failure).
                        with contextlib.suppress(Exception):
                            await self._store.release([leases[d] for d in mine] + learning, token)
                            await self._store.notify(done_key)
                        raise
                    if fetched:
                        await self._store.notify(done_key)
                        continue
                elif learning:
                    await self._store.release(learning, token)
                await wait_event(done, max([*left, teacher]) + LEASE_GRACE_SECONDS)

    async def _fetch_some(
        self,
        project_id: str,
        metric: str,
        mine: list[date],
        density: float | None,
        leases: dict[date, str],
        token: str,
        fetched_since: float | None,
        learning: list[str],
        cuts: list[date],
        own_missing: list[date],
        *,
        blind: bool,
    ) -> bool:
        """Fetch one chunk per segment (a run, cut at `cuts`: wants.py) of the leased days
        `mine`, the newest holding days of `own_missing` (wants.chunk_for); give the others
        back first. While the density is unknown, segments cut_blind are left for later
        (unless `blind` and there is nothing else: then the newest). False: nothing was
        fetched, only such segments were left (wait for the fetch learning the density)."""
        # A holder may have just stored some days; the fetch learning the density, it.
        have = await self._load(project_id, metric, mine, fetched_since)
        if density is None:
            density = await self._chunks.density(project_id, metric)
        todo = [d for d in mine if d not in have]
        chunks = []
        resumed = await self._chunks.resumable(project_id, metric, todo) if todo else None
        if resumed is not None:
            chunks.append(resumed)
        else:
            today = datetime.fromtimestamp(self._clock(), UTC).date()
            own = set(own_missing)
            picks = []  # (segment, its chunk to fetch) for each segment holding `own` days
            for first, last in segments(todo, cuts):
                run = span_days(first, last)
                if chunk := chunk_for(run, density, today, own):
                    picks.append((run, chunk))
            if density is None:
                # The density is learnt from a segment fetched whole where there is one; a
                # fetch that must learn it (`blind`) and has none cuts only its newest.
                whole = [pick for pick in picks if not cut_blind(pick[0], today)]
                picks = whole if whole or not blind else picks[-1:]
            chunks += [chunk for _, chunk in picks]
        chosen = {d for first, last in chunks for d in span_days(first, last)}
        held = [leases[d] for d in mine if d in chosen]
        spare = [leases[d] for d in mine if d not in chosen] + ([] if held else learning)
        if spare:
            await self._store.release(spare, token)
        if not held:
            return not todo  # all stored meanwhile: plan again at once
        fetches = [self._chunks.fetch(project_id, metric, *run, density) for run in chunks]
        held += learning  # held until the chunks are stored, density with them
        async with renewing(self._store, held, token, LEASE_TTL_SECONDS, LEASE_RENEW_SECONDS):
            # One chunk (the common case) is fetched in this task: no task of its own.
            await (fetches[0] if len(fetches) == 1 else asyncio.gather(*fetches))
        return True

    def _learning(self, project_id: str, metric: str) -> str:
        """The lease of the fetch learning the density of (project, metric), while none is
        known (its key's hash tag keeps it in one script with the days' leases)."""
        return Keys.lease(self._keys.density(project_id, metric))

    async def estimate(self, project_id: str, metric: str, days: Sequence[date]) -> int:
        """Upstream queries `days` would cost now (one per run of missing days; pages aside)."""
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        wanted = [d for d in days if d <= today]
        have = await self._load(project_id, metric, wanted)
        return len(day_runs([d for d in wanted if d not in have]))

    async def _load(
        self,
        project_id: str,
        metric: str,
        days: Sequence[date],
        fetched_since: float | None = None,
    ) -> dict[date, Day]:
        raws = await self._store.mget([self._keys.day(project_id, metric, d) for d in days])
        if len(days) <= UNPACK_ON_LOOP:
            have = _unpack(days, raws)
        else:
            loop = asyncio.get_running_loop()
            have = await loop.run_in_executor(self._executor, _unpack, days, raws)
        if fetched_since is None:
            return have
        return {d: day for d, day in have.items() if day.fetched_at >= fetched_since}
