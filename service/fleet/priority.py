"""Whose work an upstream request is: a user's (someone is waiting for it now) or only
background work (a stale refresh, the warmer, a fetch whose requester stopped waiting).

A priority is either fixed (a user's request; `background()`) or derived from who is
waiting: a flight is at user priority while any of its waiters is, and falls back to
background as soon as none is. So a user who joins a fetch the warmer started raises it
to user priority at its next token, and a fetch whose requester gave up goes on behind
the users' work instead of being thrown away. The budget reads it before every token.

Users waiting in other processes count too: a flight waits on the lease of the process
that runs it, so FleetDemand writes the waiting users beside that lease and the running
process reads them back (every PRIORITY_POLL_SECONDS, one MGET), and a client whose retry
lands on another process keeps its fetch at user priority, as it would in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections import Counter
from collections.abc import Iterator

from service.store.base import Store
from service.store.keys import DEMAND_TTL_SECONDS, Keys

log = logging.getLogger(__name__)

PRIORITY_POLL_SECONDS = 0.25  # a waiting fetch notices a change of priority within this long
DEMAND_REFRESH_SECONDS = 1.0  # a waiter rewrites its demand this often (a third of its TTL)


class Priority:
    def __init__(self, user: bool | None = None, name: str | None = None, client: str = "") -> None:
        self._fixed = user  # None: derived from the waiters
        self._name = name or ("user" if user else "background")
        self._client = client  # a user's: the API token's name ("" when there is one token)
        self._waiters: Counter[Priority] = Counter()
        self._remote: frozenset[str] = frozenset()  # clients waiting in other processes
        self._held_until = 0.0  # the loop's time when the last hold for a user ends

    @property
    def fixed(self) -> bool:
        """Whether this priority can never change (a user's request, or background work)."""
        return self._fixed is not None

    def is_user(self) -> bool:
        if self._fixed is not None:
            return self._fixed
        return bool(self._remote) or any(waiter.is_user() for waiter in self._waiters)

    def clients(self) -> frozenset[str]:
        """The users this work is for now (queue.py shares turns fairly between them)."""
        if self._fixed is not None:
            return frozenset((self._client,)) if self._fixed else frozenset()
        return self._remote.union(*(waiter.clients() for waiter in self._waiters))

    def label(self) -> str:
        """For metrics: user; else warm when the warmer waits for it; else background."""
        if self._fixed is not None:
            return self._name
        if self.is_user():
            return "user"
        warm = any(waiter.label() == "warm" for waiter in self._waiters)
        return "warm" if warm else "background"

    @contextlib.contextmanager
    def waited_on_by(self, waiter: Priority) -> Iterator[None]:
        """While open, `waiter` counts among those waiting for this work."""
        self._waiters[waiter] += 1
        try:
            yield
        finally:
            self._let_go(waiter)

    def hold(self, waiter: Priority, seconds: float) -> None:
        """Count `waiter` among those waiting for the next `seconds`."""
        self._waiters[waiter] += 1
        loop = asyncio.get_running_loop()
        loop.call_later(seconds, self._let_go, waiter)
        if waiter.is_user():
            self._held_until = max(self._held_until, loop.time() + seconds)

    def held_for(self) -> float:
        """Seconds until the holds for users end (0 when there are none)."""
        return max(0.0, self._held_until - asyncio.get_running_loop().time())

    def lend(self, clients: frozenset[str]) -> None:
        """The clients waiting for this work in other processes (none: an empty set)."""
        self._remote = clients

    def _let_go(self, waiter: Priority) -> None:
        self._waiters[waiter] -= 1
        if not self._waiters[waiter]:
            del self._waiters[waiter]

    def __repr__(self) -> str:
        return f"Priority({'user' if self.is_user() else 'background'})"


USER = Priority(user=True)  # a request served to a person: the default
BACKGROUND = Priority(user=False)
WARM = Priority(user=False, name="warm")  # the warmer's work: background, counted apart

_current: contextvars.ContextVar[Priority] = contextvars.ContextVar("priority", default=USER)


@functools.cache
def user(client: str) -> Priority:
    """The priority of a request made with the API token named `client`."""
    return Priority(user=True, client=client)


def current() -> Priority:
    return _current.get()


@contextlib.contextmanager
def running_as(priority: Priority) -> Iterator[None]:
    """Upstream requests made inside (and in tasks started inside) go at `priority`."""
    token = _current.set(priority)
    try:
        yield
    finally:
        _current.reset(token)


def background() -> contextlib.AbstractContextManager[None]:
    """Upstream requests made inside (and in tasks started inside) count as background."""
    return running_as(BACKGROUND)


def warming() -> contextlib.AbstractContextManager[None]:
    """The warmer's work: background priority, labelled warm in the metrics."""
    return running_as(WARM)


def is_background() -> bool:
    return not current().is_user()


class FleetDemand:
    """Users waiting for a flight in processes other than the one running it, shared beside
    the flight's lease in the store (plain GET/SET with TTLs: every store has them).

    A process waiting on another's lease *lends* its flight's priority: while that is user
    priority, it writes the users' clients under the flight's demand key, with a short TTL
    rewritten every DEMAND_REFRESH_SECONDS (at least as long as a hold for a user told to
    come back). The process running the flight *heeds* that key: one MGET of all it heeds
    per PRIORITY_POLL_SECONDS, kept on the flight's Priority, so is_user() stays a plain
    read. Two waiting processes write the same key, the last one's clients standing: the
    demand itself is what counts. The store is a hint here: a read that fails is no demand,
    a write that fails is none written, and neither reaches a user's request.
    """

    def __init__(self, store: Store, poll: float = PRIORITY_POLL_SECONDS) -> None:
        self._store = store
        self._poll = poll
        self._heeded: dict[str, Priority] = {}  # demand key -> a flight this process runs
        self._lent: dict[str, Priority] = {}  # demand key -> a flight waiting here
        self._written: dict[str, tuple[bytes, float]] = {}  # lent: the value, when written
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def heeding(self, key: str, priority: Priority) -> Iterator[None]:
        """While open, `priority` (of `key`'s flight, run here) counts users waiting elsewhere."""
        with self._kept(self._heeded, Keys.demand(key), priority):
            try:
                yield
            finally:
                priority.lend(frozenset())

    @contextlib.contextmanager
    def lending(self, key: str, priority: Priority) -> Iterator[None]:
        """While open, `priority` (of `key`'s flight, waiting here on another process's lease)
        is written for the process running it whenever it is user priority."""
        demand = Keys.demand(key)
        with self._kept(self._lent, demand, priority):
            try:
                yield
            finally:
                self._written.pop(demand, None)

    def lend_now(self, key: str) -> None:
        """Write `key`'s demand at the next poll, not at its next refresh (a hold began)."""
        self._written.pop(Keys.demand(key), None)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @contextlib.contextmanager
    def _kept(self, into: dict[str, Priority], demand: str, priority: Priority) -> Iterator[None]:
        into[demand] = priority
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet-demand")
        try:
            yield
        finally:
            if into.get(demand) is priority:
                del into[demand]

    async def _run(self) -> None:
        """Poll while any flight here lends or heeds demand; then end (a new one restarts it)."""
        try:
            while self._heeded or self._lent:
                await asyncio.gather(self._read(), self._write())
                await asyncio.sleep(self._poll)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _read(self) -> None:
        keys = list(self._heeded)
        if not keys:
            return
        try:
            raws = await self._store.mget(keys)
        except Exception as exc:  # the store down: no demand known, so none counted
            log.debug("reading fleet demand failed (%r): none counted", exc)
            raws = [None] * len(keys)
        for key, raw in zip(keys, raws, strict=True):
            priority = self._heeded.get(key)
            if priority is not None:  # not ended meanwhile
                priority.lend(_decode(raw))

    async def _write(self) -> None:
        now = asyncio.get_running_loop().time()
        due = []
        for key, priority in self._lent.items():
            if not priority.is_user():
                continue
            value = _encode(priority.clients())
            last = self._written.get(key)
            if last is not None and last[0] == value and now - last[1] < DEMAND_REFRESH_SECONDS:
                continue
            self._written[key] = (value, now)
            due.append((key, value, max(DEMAND_TTL_SECONDS, priority.held_for())))
        if not due:
            return
        try:
            await self._store.set_many(due)
        except Exception as exc:  # the store down: the holder sees no demand, as when idle
            log.debug("writing fleet demand failed (%r)", exc)


# Clients one a line (token names never hold a newline); the unnamed client "" is b"".
def _encode(clients: frozenset[str]) -> bytes:
    return "\n".join(sorted(clients)).encode()


def _decode(raw: bytes | None) -> frozenset[str]:
    return frozenset() if raw is None else frozenset(raw.decode(errors="replace").split("\n"))
