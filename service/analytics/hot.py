"""The answers a process keeps in memory for a moment, so the hottest keys skip the store.

A hot copy is trusted for at most CACHE_LOCAL_SECONDS after it was read; an invalidation
announced to the fleet empties every process's copies at once (see AnswerCache._listen).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.analytics.answers import Answer

HOT_ENTRIES = 256  # answers kept in process; the hottest keys of a dashboard fleet fit easily


class HotAnswers:
    """The answers this process served last, each trusted for at most `max_age` seconds after
    it was read from the store, so the hottest keys skip the store's round trip while another
    process's refresh still shows within `max_age`. Bounded: the oldest entry goes first."""

    def __init__(
        self, max_age: float, size: int = HOT_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age = max_age
        self._size = size
        self._clock = clock
        self._items: dict[str, tuple[Answer, float]] = {}

    def get(self, key: str) -> Answer | None:
        item = self._items.get(key)
        if item is None or item[1] <= self._clock():
            return None
        return item[0]

    def clear(self) -> None:
        self._items.clear()

    def put(self, key: str, answer: Answer) -> None:
        if self._max_age <= 0:
            return
        self._items.pop(key, None)
        if len(self._items) >= self._size:
            del self._items[next(iter(self._items))]
        self._items[key] = (answer, self._clock() + self._max_age)
