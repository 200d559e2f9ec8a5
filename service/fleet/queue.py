"""Shortest work first: which waiting fetch takes the next upstream token.

At the rate limit tokens come one at a time while many fetches wait for them. Served in
arrival order, a week's fetch waits behind every page of a quarter's fill, page after
page; served smallest remaining work first, the short asks finish in seconds and the long
fills finish no later in total. A fetch states its remaining work with `sizing` (a day
partition's fetch in days: analytics/chunks.py); the budget reads it before every token.

In a process, waiters for a token take turns by (work, arrival), and first of all fairly
between the clients (API token names) they work for: the turn goes to the waiter whose
client has had the fewest turns, so one client's hundred cold ranges take every other turn,
not every turn, while another client's week waits. A client that joins takes no credit for
its idle time: it starts level with the least served client waiting. Across the fleet, the
take script keeps a register of the smallest user work waiting anywhere (bucket.py): a
process whose own smallest is larger lets the tokens pass while that one waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
from collections.abc import AsyncIterator, Callable, Collection, Iterator

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


Clients = Callable[[], Collection[str]]  # whom a waiter works for (read as it queues)
ANYONE = frozenset({""})  # the client of work that names none (one token, or background)


def _nobody() -> Collection[str]:
    return ()


class Turns:
    """One turn at a time, handed to the waiter whose client has had the fewest turns, then
    the one with the least work, then the earliest.

    Each client has its own heap by (work, arrival); a waiter working for several clients
    (a fetch they share) sits in each of theirs, and takes the turn of the least served.
    Whom a waiter works for is read when it queues: a client joining a fetch while it waits
    counts from the fetch's next page on. A turn costs O(clients + log waiters).
    """

    def __init__(self) -> None:
        self._busy = False
        self._heaps: dict[str, list[tuple[float, int, asyncio.Future[None], frozenset[str]]]] = {}
        self._live: dict[str, int] = {}  # waiters queued per client
        self._served: dict[str, int] = {}  # turns per client since the queue was last empty
        self._arrivals = itertools.count()
        self._waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self, work: float, clients: Clients = _nobody) -> AsyncIterator[None]:
        mine = frozenset(clients()) or ANYONE
        if self._busy:
            self._level(mine)
            granted = asyncio.get_running_loop().create_future()
            entry = (work, next(self._arrivals), granted, mine)
            for c in mine:
                heapq.heappush(self._heaps.setdefault(c, []), entry)
                self._live[c] = self._live.get(c, 0) + 1
            self._waiting += 1
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._pass_on()  # the turn came just as this waiter was cancelled
                else:
                    self._left(mine)  # its entries stay, done, and _pass_on skips them
                raise
        else:
            self._busy = True
            self._charge(mine)
        try:
            yield
        finally:
            self._pass_on()

    def waiting(self) -> int:
        return self._waiting

    def _left(self, clients: frozenset[str]) -> None:
        self._waiting -= 1
        for c in clients:
            self._live[c] -= 1

    def _level(self, clients: frozenset[str]) -> None:
        """A client with nothing queued starts no lower than the least served one queued."""
        queued = [self._served.get(c, 0) for c, n in self._live.items() if n]
        floor = min(queued, default=0)
        for c in clients:
            if not self._live.get(c):
                self._served[c] = max(self._served.get(c, 0), floor)

    def _charge(self, clients: frozenset[str]) -> None:
        due = min(clients, key=lambda c: self._served.get(c, 0))
        self._served[due] = self._served.get(due, 0) + 1

    def _top(self, client: str) -> tuple[float, int]:
        heap = self._heaps[client]
        while heap[0][2].done():  # granted through another client's heap, or cancelled
            heapq.heappop(heap)
        return heap[0][:2]

    def _pass_on(self) -> None:
        queued = [c for c, n in self._live.items() if n]
        if not queued:
            self._busy = False
            self._heaps.clear()  # the next contention starts level
            self._live.clear()
            self._served.clear()
            return
        chosen = min(queued, key=lambda c: (self._served.get(c, 0), *self._top(c)))
        *_, granted, clients = heapq.heappop(self._heaps[chosen])
        self._left(clients)
        self._charge(clients)
        granted.set_result(None)
