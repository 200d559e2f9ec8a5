"""The parts of a project's answers that lapse while people keep asking: its open days.

A closed day is fetched once. An open one (today's UTC day, or one inside the settle delay)
of each list metric, and the open part of top_intents (today's local day in a zone), are
fetched again every CACHE_OPEN_DAY_TTL_SECONDS, and every answer of the project reads them.
Left to lapse, they all lapse within seconds of each other, and every refresh of every
answer of the project then waits on upstream at once. The warmer renews them ahead of their
expiry instead, spread over its runs (warmer/renewal.py), so that refreshing an answer finds
them fresh and costs nothing upstream.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from service.analytics.intents import Intents
from service.analytics.partitions import Partitions
from service.analytics.rows import LIST_METRICS
from service.store.base import Store
from service.store.keys import Keys

INTENTS = "top_intents"


@dataclass(frozen=True, slots=True)
class OpenPart:
    project_id: str
    metric: str  # a list metric, or top_intents
    day: date | None  # a list metric's UTC day
    tz: str | None  # top_intents' zone
    left: float  # seconds until it lapses; 0 when it is not stored

    @property
    def label(self) -> str:
        where = self.day.isoformat() if self.day is not None else self.tz
        return f"{self.metric} {self.project_id} {where}"


class OpenParts:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        partitions: Partitions,
        intents: Intents,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._partitions = partitions
        self._intents = intents
        self._clock = clock

    async def of(self, project_id: str, zones: Iterable[str]) -> list[OpenPart]:
        """The open parts of the project's answers in `zones`, with the time each has left
        (one store round trip)."""
        days = self._partitions.open_days(self._clock())
        parts = [
            (OpenPart(project_id, metric, d, None, 0.0), self._keys.day(project_id, metric, d))
            for metric in LIST_METRICS
            for d in days
        ]
        for tz in sorted(set(zones)):
            key, _window = self._intents.open_part(project_id, tz)
            parts.append((OpenPart(project_id, INTENTS, None, tz, 0.0), key))
        lefts = await self._store.expires_in([key for _part, key in parts])
        return [
            part if left is None else dataclasses.replace(part, left=left)
            for (part, _key), left in zip(parts, lefts, strict=True)
        ]

    async def renew(self, part: OpenPart) -> None:
        """Fetch `part` again now, at the caller's priority (the warmer's: background)."""
        if part.tz is not None:
            await self._intents.renew_open(part.project_id, part.tz)
        elif part.day is not None:
            await self._partitions.days(
                part.project_id, part.metric, [part.day], fetched_since=self._clock()
            )
