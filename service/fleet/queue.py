"""Shortest work first: which waiting fetch takes the next upstream token.

At the rate limit tokens come one at a time while many fetches wait for them. Served in
arrival order, a week's fetch waits behind every page of a quarter's fill, page after
page; served smallest remaining work first, the short asks finish in seconds and the long
fills finish no later in total. A fetch states its remaining work with `sizing` (a day
partition's fetch in days: analytics/chunks.py); the budget reads it before every token.

In a process, waiters for a token take turns by (work, arrival). Across the fleet, the
take script keeps a register of the smallest user work waiting anywhere (bucket.py): a
process whose own smallest is larger lets the tokens pass while that one waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Iterator

UNSIZED = 1.0  # work of a request outside any sized fetch, and the least any counts as

_work: contextvars.ContextVar[Callable[[], float] | None] = contextvars.ContextVar(
    "work", default=None
)


def remaining() -> float:
    """The work still ahead of the fetch this task runs (at least UNSIZED)."""
    size = _work.get()
    return UNSIZED if size is None else max(UNSIZED, size())


@contextlib.contextmanager
def sizing(work_left: Callable[[], float]) -> Iterator[None]:
    """Upstream requests made inside belong to a fetch with `work_left()` work to go."""
    token = _work.set(work_left)
    try:
        yield
    finally:
        _work.reset(token)


class Turns:
    """One turn at a time, handed to the waiter with the least work (then the earliest)."""

    def __init__(self) -> None:
        self._busy = False
        self._queue: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def turn(self, work: float) -> AsyncIterator[None]:
        if self._busy:
            granted = asyncio.get_running_loop().create_future()
            heapq.heappush(self._queue, (work, next(self._arrivals), granted))
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._pass_on()  # the turn came just as this waiter was cancelled
                raise  # else its entry stays, done, and _pass_on skips it
        else:
            self._busy = True
        try:
            yield
        finally:
            self._pass_on()

    def waiting(self) -> int:
        return sum(1 for *_, granted in self._queue if not granted.done())

    def _pass_on(self) -> None:
        while self._queue:
            *_, granted = heapq.heappop(self._queue)
            if not granted.done():
                granted.set_result(None)
                return
        self._busy = False
