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
import itertools
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass

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


Clients = Callable[[], Collection[str]]  # whom a waiter works for now (it may change)


def _nobody() -> Collection[str]:
    return ()


@dataclass(slots=True)
class _Waiter:
    work: float
    arrival: int
    clients: Clients
    granted: asyncio.Future[None]


class Turns:
    """One turn at a time, handed to the waiter whose client has had the fewest turns, then
    the one with the least work, then the earliest."""

    def __init__(self) -> None:
        self._busy = False
        self._queue: list[_Waiter] = []  # a few hundred at most: scanned once per turn
        self._arrivals = itertools.count()
        self._served: dict[str, int] = {}  # turns per client since the queue was last empty

    @contextlib.asynccontextmanager
    async def turn(self, work: float, clients: Clients = _nobody) -> AsyncIterator[None]:
        if self._busy:
            self._level(clients())
            granted = asyncio.get_running_loop().create_future()
            self._queue.append(_Waiter(work, next(self._arrivals), clients, granted))
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._pass_on()  # the turn came just as this waiter was cancelled
                raise  # else its entry stays, done, and _pass_on drops it
        else:
            self._busy = True
            self._charge(clients())
        try:
            yield
        finally:
            self._pass_on()

    def waiting(self) -> int:
        return sum(1 for w in self._queue if not w.granted.done())

    def _share(self, clients: Collection[str]) -> int:
        """Turns had by the least served of `clients`: a fetch two clients wait for goes at
        the turn of the one it is most due to."""
        return min((self._served.get(c, 0) for c in clients), default=0)

    def _level(self, clients: Collection[str]) -> None:
        """A client with nothing waiting starts no lower than the least served one waiting."""
        waiting = {c for w in self._queue if not w.granted.done() for c in w.clients()}
        floor = self._share(waiting) if waiting else 0
        for c in clients:
            if c not in waiting:
                self._served[c] = max(self._served.get(c, 0), floor)

    def _charge(self, clients: Collection[str]) -> None:
        if clients:
            due = min(clients, key=lambda c: self._served.get(c, 0))
            self._served[due] = self._served.get(due, 0) + 1

    def _pass_on(self) -> None:
        self._queue = [w for w in self._queue if not w.granted.done()]
        if not self._queue:
            self._busy = False
            self._served.clear()  # contention is over: the next starts level
            return
        served = [(self._share(w.clients()), w.work, w.arrival, w) for w in self._queue]
        *_, chosen = min(served, key=lambda entry: entry[:3])
        self._queue.remove(chosen)
        self._charge(chosen.clients())
        chosen.granted.set_result(None)
