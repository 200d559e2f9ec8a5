"""Fetch planning over day partitions: fetch only the UTC days that are missing or expired.

For each metric, the days a question needs are read in one MGET; the missing ones are merged
into contiguous runs, each fetched with one ranged, paginated query, split back into days
and stored — closed days for long, open days (today, or inside the settle delay) briefly.
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
from typing import Any

import orjson

from service.analytics.rows import Day, split_days
from service.config.settings import Settings
from service.errors import ServiceUnavailable
from service.fleet.flight import LEASE_GRACE_SECONDS, SingleFlight, renewing
from service.store.base import Store
from service.store.keys import LEASE_RENEW_SECONDS, LEASE_TTL_SECONDS, Keys
from service.upstream.voiceflow import VoiceflowClient, iso_z

UNPACK_ON_LOOP = 31  # stored days decoded on the loop; more go to the executor


def _unpack(days: Sequence[date], raws: Sequence[bytes | None]) -> dict[date, Day]:
    out = {}
    for d, raw in zip(days, raws, strict=True):
        day = Day.unpack(raw) if raw is not None else None
        if day is not None:
            out[d] = day
    return out


def _split_and_pack(
    metric: str, rows: list[dict[str, Any]], run: list[date], fetched_at: float
) -> list[tuple[date, bytes]]:
    return [(d, day.pack()) for d, day in split_days(metric, rows, run, fetched_at).items()]


def day_runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Sorted days merged into contiguous inclusive runs."""
    runs: list[tuple[date, date]] = []
    for d in sorted(days):
        if runs and d == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


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
        flight: SingleFlight,
        settings: Settings,
        executor: Executor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._executor = executor
        self._store = store
        self._keys = keys
        self._client = client
        self._flight = flight
        self._settings = settings
        self._clock = clock

    def is_closed(self, day: date, now: float) -> bool:
        """A day that ended more than the settle delay ago never changes again."""
        end = datetime.combine(day + timedelta(days=1), dtime(), UTC).timestamp()
        return end + self._settings.settle <= now

    def _ttl(self, closed: bool) -> float:
        return self._settings.closed_day_ttl if closed else self._settings.open_day_ttl

    async def days(self, project_id: str, metric: str, days: Sequence[date]) -> dict[date, Day]:
        """The stored rows of `metric` for each of `days`, fetching what is missing.

        Each missing day is leased before it is fetched (one script for all of them), so two
        requests over overlapping ranges — in any process — never fetch a day twice: each
        fetches the days it leased and waits for the others' notification.
        """
        now = self._clock()
        today = datetime.fromtimestamp(now, UTC).date()
        wanted = [d for d in days if d <= today]  # the future has no rows: nothing to fetch
        found: dict[date, Day] = {d: Day.empty(now) for d in days if d > today}
        done_key = self._keys.days_done(project_id, metric)
        give_up = time.monotonic() + self._settings.upstream_deadline + 2 * LEASE_TTL_SECONDS
        while True:
            async with self._store.watch(done_key) as done:
                have = await self._load(project_id, metric, wanted)
                missing = [d for d in wanted if d not in have]
                if not missing:
                    return found | have
                if time.monotonic() > give_up:
                    raise ServiceUnavailable(
                        f"{metric} for project {project_id} is being fetched by another "
                        "process that has not finished",
                        retry_after=LEASE_TTL_SECONDS,
                    )
                token = secrets.token_hex(16)
                leases = [Keys.lease(self._keys.day(project_id, metric, d)) for d in missing]
                left = await self._store.acquire(leases, token, LEASE_TTL_SECONDS)
                mine = [d for d, wait in zip(missing, left, strict=True) if not wait]
                if mine:
                    held = [lk for lk, wait in zip(leases, left, strict=True) if not wait]
                    try:
                        async with renewing(
                            self._store, held, token, LEASE_TTL_SECONDS, LEASE_RENEW_SECONDS
                        ):
                            await self._fetch(project_id, metric, mine)
                    finally:
                        await self._store.notify(done_key)
                if len(mine) < len(missing):
                    # The rest is being fetched elsewhere: wait for word, or for the longest
                    # of those leases to lapse (its holder died).
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), max(left) + LEASE_GRACE_SECONDS)

    async def estimate(self, project_id: str, metric: str, days: Sequence[date]) -> int:
        """Upstream queries `days` would cost now (one per run of missing days; pages aside)."""
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        wanted = [d for d in days if d <= today]
        have = await self._load(project_id, metric, wanted)
        return len(day_runs([d for d in wanted if d not in have]))

    async def intents_cached(self, project_id: str, start: datetime, end: datetime) -> bool:
        return (
            await self._store.get(self._keys.intents(project_id, iso_z(start), iso_z(end)))
            is not None
        )

    async def _load(self, project_id: str, metric: str, days: Sequence[date]) -> dict[date, Day]:
        raws = await self._store.mget([self._keys.day(project_id, metric, d) for d in days])
        if len(days) <= UNPACK_ON_LOOP:
            return _unpack(days, raws)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _unpack, days, raws)

    async def _fetch(self, project_id: str, metric: str, days: Sequence[date]) -> None:
        """Fetch the leased `days`, re-checked first: a holder may have stored some just before."""
        have = await self._load(project_id, metric, days)
        missing = [d for d in days if d not in have]
        await asyncio.gather(
            *(self._fetch_run(project_id, metric, first, last) for first, last in day_runs(missing))
        )

    async def _fetch_run(self, project_id: str, metric: str, first: date, last: date) -> None:
        start = datetime.combine(first, dtime(), UTC)
        end = datetime.combine(last + timedelta(days=1), dtime(), UTC) - timedelta(milliseconds=1)
        fetched_at = self._clock()
        rows = await self._client.rows(project_id, metric, start, end)
        run = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        loop = asyncio.get_running_loop()  # a year of rows takes ~0.1 s to split: not on the loop
        packed = await loop.run_in_executor(
            self._executor, _split_and_pack, metric, rows, run, fetched_at
        )
        await self._store.set_many(
            [
                (
                    self._keys.day(project_id, metric, d),
                    raw,
                    self._ttl(self.is_closed(d, fetched_at)),
                )
                for d, raw in packed
            ]
        )

    async def top_intents(
        self, project_id: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """top_intents for an exact UTC window, cached per window (closed ones long)."""
        if end < start:  # an empty window (skipped local dates): nothing to ask
            return []
        key = self._keys.intents(project_id, iso_z(start), iso_z(end))

        async def read() -> list[dict[str, Any]] | None:
            raw = await self._store.get(key)
            return None if raw is None else list(orjson.loads(raw))

        async def fetch() -> list[dict[str, Any]]:
            intents = await self._client.top_intents(project_id, start, end)
            clean = [
                {"name": str(i.get("name", "")), "count": _count(i.get("count"))}
                for i in intents
                if isinstance(i, dict)
            ]
            closed = self.is_closed(end.date(), self._clock())
            await self._store.set(key, orjson.dumps(clean), self._ttl(closed))
            return clean

        cached = await read()
        if cached is not None:
            return cached
        return await self._flight.run(key, fetch, read)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
