"""What is cached per project, recorded as it is stored, so that it can be dropped again.

Answers and top_intents windows are stored under digests or exact windows, and days under
dates nobody lists; the store cannot list keys (no SCAN: it must work on Redis Cluster). So
each writer records what it stored in a catalogue (store/catalog.py), and an invalidation
(analytics/invalidation.py) reads the catalogues of a project:
- answers: `kind|canonical` per project (the answer key and its range follow from it);
- top_intents windows: `start|end` (UTC, as the key spells them) per project;
- per (project, metric), in its hash tag: days as `d:YYYYMMDD` and checkpointed chunks as
  `c:<chunk id>`.

Recording costs one script call per stored answer, window, chunk of days or checkpointed
page, never anything on a hit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime

from service.store import catalog
from service.store.base import Store
from service.store.keys import CATALOG_KEEP, Keys

DAY, CHUNK = "d:", "c:"


def _at(expires: float) -> int:
    # Whole seconds, rounded up, plus one: the key's own TTL starts as it is written, a moment
    # after this is computed, and a hint may outlive its key but never the other way round.
    return math.ceil(expires) + 1


class Catalog:
    def __init__(self, store: Store, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock

    async def _record(self, key: str, entries: Sequence[tuple[str, float]]) -> None:
        now = int(self._clock())
        await catalog.record(self._store, key, [(m, _at(e)) for m, e in entries], now, CATALOG_KEEP)

    async def _live(self, key: str) -> list[str]:
        return await catalog.live(self._store, key, int(self._clock()))

    async def answer(self, kind: str, canonical: str, expires: float) -> None:
        project = canonical.split("|", 1)[0]
        await self._record(self._keys.answer_index(project), [(f"{kind}|{canonical}", expires)])

    async def intents(self, project_id: str, start: str, end: str, expires: float) -> None:
        await self._record(self._keys.intents_index(project_id), [(f"{start}|{end}", expires)])

    async def days(self, project_id: str, metric: str, days: Sequence[tuple[date, float]]) -> None:
        await self._record(
            self._keys.day_index(project_id, metric), [(f"{DAY}{d:%Y%m%d}", e) for d, e in days]
        )

    async def chunk(self, project_id: str, metric: str, chunk: str, expires: float) -> None:
        await self._record(self._keys.day_index(project_id, metric), [(f"{CHUNK}{chunk}", expires)])

    async def answers(self, project_id: str) -> list[tuple[str, str]]:
        """(kind, canonical) of the answers of the project that may still be stored."""
        out = []
        for name in await self._live(self._keys.answer_index(project_id)):
            kind, _, canonical = name.partition("|")
            out.append((kind, canonical))
        return out

    async def intents_windows(self, project_id: str) -> list[tuple[str, str]]:
        """(start, end) of the top_intents windows of the project that may still be stored."""
        out = []
        for name in await self._live(self._keys.intents_index(project_id)):
            start, _, end = name.partition("|")
            out.append((start, end))
        return out

    async def stored(self, project_id: str, metric: str) -> tuple[list[date], list[str]]:
        """The days and the checkpointed chunk ids of a (project, metric) that may be stored."""
        days, chunks = [], []
        for name in await self._live(self._keys.day_index(project_id, metric)):
            if name.startswith(DAY):
                try:
                    days.append(datetime.strptime(name[len(DAY) :], "%Y%m%d").date())
                except ValueError:
                    continue
            elif name.startswith(CHUNK):
                chunks.append(name[len(CHUNK) :])
        return days, chunks
