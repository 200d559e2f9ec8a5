"""top_intents of a window, asked as a closed part plus an open part that answers share.

Voiceflow answers top_intents as one ranked list per window, not as hourly rows, so it cannot
be day-partitioned like the list metrics, and caching it per exact window made every preset
of a project (last 7 / 30 / 90 days, month to date) pay its own request on every refresh.
So a window that reaches today is asked as two windows: the part before today's local
midnight, which stops changing once it has settled and is then kept long, and the part from
that midnight on. Every preset of a project in one zone ends at the end of today's local day,
so they all share that open part exactly, and one request refreshes all of them.

Summing two ranked lists is exact only when each list is complete: Voiceflow keeps the top
`limit` intents and drops the rest, so an intent cut from one part would be undercounted.
A part that came back full (`limit` entries) may have been cut, so then the exact window is
asked for instead, cached per window as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from service.analytics.catalog import Catalog
from service.analytics.timezones import local_midnight_utc, zone
from service.config.settings import Settings
from service.fleet import queue
from service.fleet.flight import SingleFlight
from service.store.base import Store
from service.store.keys import Keys
from service.upstream.voiceflow import PAGE_LIMIT, VoiceflowClient
from service.upstream.wire import iso_z

Intent = dict[str, Any]  # {"name": str, "count": int}
Window = tuple[datetime, datetime]  # inclusive UTC bounds, as Voiceflow reads them

MS = timedelta(milliseconds=1)  # the API's time resolution: a window ends 1 ms before the next


class Intents:
    """top_intents per window, through the cache and the fleet's single flight."""

    def __init__(
        self,
        store: Store,
        keys: Keys,
        client: VoiceflowClient,
        flight: SingleFlight,
        settings: Settings,
        *,
        limit: int = PAGE_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._client = client
        self._flight = flight
        self._settings = settings
        self._limit = limit  # a parameter so tests can make parts come back full
        self._clock = clock
        self._catalog = Catalog(store, keys, clock)  # what an invalidation may drop

    def parts(self, start: datetime, end: datetime, tz: str) -> list[Window]:
        """[start, end] as its closed part and its open part (today's local day in `tz`),
        or as itself when it does not cross today's local midnight."""
        today = datetime.fromtimestamp(self._clock(), zone(tz)).date()
        midnight = local_midnight_utc(today, tz)
        if not start < midnight <= end:
            return [(start, end)]
        return [(start, midnight - MS), (midnight, end)]

    async def top(self, project_id: str, start: datetime, end: datetime, tz: str) -> list[Intent]:
        """The top intents over [start, end] (UTC instants covering local dates in `tz`),
        count descending, ties by name, at most the limit."""
        if end < start:  # an empty window (skipped local dates): nothing to ask
            return []
        parts = self.parts(start, end, tz)
        if len(parts) == 1:
            return await self._window(project_id, start, end)
        stored = await self._stored(project_id, parts)
        # A stored full part would force the exact window anyway: don't pay for the other part.
        if not any(s is not None and self._full(s) for s in stored):
            lists = await asyncio.gather(
                *(
                    self._window(project_id, s, e, have)
                    for (s, e), have in zip(parts, stored, strict=True)
                )
            )
            if not any(self._full(lst) for lst in lists):
                return merge(lists, self._limit)
        return await self._window(project_id, start, end)

    def open_part(self, project_id: str, tz: str) -> tuple[str, Window]:
        """The store key and window of the open part every answer of the project in `tz`
        ending today shares: today's local day, from its midnight to the next one."""
        today = datetime.fromtimestamp(self._clock(), zone(tz)).date()
        start = local_midnight_utc(today, tz)
        end = local_midnight_utc(today + timedelta(days=1), tz) - MS
        return self._key(project_id, start, end), (start, end)

    async def renew_open(self, project_id: str, tz: str) -> None:
        """Fetch the open part again now (ahead of its expiry), shared fleet-wide."""
        key, (start, end) = self.open_part(project_id, tz)
        asked = self._clock()

        async def renewed() -> list[Intent] | None:  # stored by someone since we asked
            (left,) = await self._store.expires_in([key])
            fresh = left is not None and left >= self._settings.open_day_ttl - (
                self._clock() - asked
            )
            return _decode(await self._store.get(key)) if fresh else None

        await self._flight.run(key, lambda: self._fetch(project_id, start, end), renewed)

    async def estimate(self, project_id: str, start: datetime, end: datetime, tz: str) -> int:
        """Requests `top` would make now, at least: the parts missing, or the exact window
        when a stored part is full (a part fetched now may turn out full: one more then)."""
        if end < start:
            return 0
        parts = self.parts(start, end, tz)
        stored = await self._stored(project_id, parts)
        if len(parts) > 1 and not any(s is not None and self._full(s) for s in stored):
            return sum(s is None for s in stored)
        exact = stored if len(parts) == 1 else await self._stored(project_id, [(start, end)])
        return int(exact[0] is None)

    def _full(self, intents: Sequence[Intent]) -> bool:
        """Whether Voiceflow may have cut the list at the limit (so it may miss intents)."""
        return len(intents) >= self._limit

    def _key(self, project_id: str, start: datetime, end: datetime) -> str:
        return self._keys.intents(project_id, iso_z(start), iso_z(end))

    async def _stored(
        self, project_id: str, windows: Sequence[Window]
    ) -> list[list[Intent] | None]:
        raws = await self._store.mget([self._key(project_id, s, e) for s, e in windows])
        return [_decode(raw) for raw in raws]

    def _ttl(self, end: datetime, now: float) -> float:
        # Partitions.is_closed's rule (settled once it ended the settle delay ago), applied at
        # the window's own end rather than its UTC day's: a closed part ends at a local
        # midnight, and west of UTC that UTC day stays open for most of the next local day,
        # which would refetch every closed part once a minute.
        settled = (end + MS).timestamp() + self._settings.settle <= now
        return self._settings.closed_day_ttl if settled else self._settings.open_day_ttl

    async def _window(
        self,
        project_id: str,
        start: datetime,
        end: datetime,
        have: list[Intent] | None = None,
    ) -> list[Intent]:
        """top_intents for exactly [start, end]: `have` (already read), the cache, or one
        request shared fleet-wide by everyone who needs the same window."""
        if have is not None:
            return have
        key = self._key(project_id, start, end)

        async def read() -> list[Intent] | None:
            return _decode(await self._store.get(key))

        cached = await read()
        if cached is not None:
            return cached
        return await self._flight.run(key, lambda: self._fetch(project_id, start, end), read)

    async def _fetch(self, project_id: str, start: datetime, end: datetime) -> list[Intent]:
        """One top_intents request for exactly [start, end], stored for the TTL it earns."""
        asked_at = self._clock()  # settledness as of the ask: rows may land meanwhile
        days = (end - start) / timedelta(days=1)  # its work, as a day partition's is measured
        with queue.sizing(lambda: days):
            intents = await self._client.top_intents(project_id, start, end, self._limit)
        clean = [
            {"name": str(i.get("name", "")), "count": _count(i.get("count"))}
            for i in intents
            if isinstance(i, dict)
        ]
        ttl = self._ttl(end, asked_at)
        await asyncio.gather(
            self._store.set(self._key(project_id, start, end), orjson.dumps(clean), ttl),
            self._catalog.intents(project_id, iso_z(start), iso_z(end), self._clock() + ttl),
        )
        return clean


def merge(lists: Sequence[Sequence[Intent]], limit: int) -> list[Intent]:
    """Counts summed by name, count descending, ties by name (so every process agrees),
    cut to `limit`: Voiceflow's own order, were it asked for the whole window."""
    totals: dict[str, int] = {}
    for intents in lists:
        for i in intents:
            totals[i["name"]] = totals.get(i["name"], 0) + i["count"]
    ranked = sorted(totals.items(), key=lambda nc: (-nc[1], nc[0]))
    return [{"name": name, "count": count} for name, count in ranked[:limit]]


def _decode(raw: bytes | None) -> list[Intent] | None:
    return None if raw is None else list(orjson.loads(raw))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
