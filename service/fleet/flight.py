"""Single flight: per key, at most one computation runs across the whole fleet.

In-process callers share one task; across processes a Redis lease (SET NX PX + token,
compare-and-delete) elects one computer, renewed while it runs, and the others wait for
its "done" notification. A crashed holder's lease expires, so waiters are delayed by at
most the lease TTL before one of them takes over. Cache hits never come here. A flight's
priority is fleet-wide: users waiting on the lease in other processes count for the holder's
(FleetDemand, priority.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from service import metrics
from service.errors import ServiceUnavailable, UpstreamRateLimited
from service.fleet import priority as priorities
from service.fleet import tally
from service.fleet.priority import FleetDemand, Priority, running_as
from service.fleet.tally import tally_requests
from service.store.base import Store
from service.store.keys import LEASE_RENEW_SECONDS, LEASE_TTL_SECONDS, Keys

log = logging.getLogger(__name__)

T = TypeVar("T")

LEASE_GRACE_SECONDS = 0.05  # past a lapsed lease, so the retry finds it gone
RETRY_AFTER_SHUTDOWN = 1.0  # seconds: another process (or this one restarted) takes over
# Flights a client's requests may have started and still running in a process (the
# default of UPSTREAM_COLD_PER_TOKEN). More would only queue behind them for the same
# budget, and each waiting one holds tasks and leases: a client rotating cold ranges would
# grow the backlog, memory and the garbage collector's pauses without bound. Past it a new
# cold ask is refused at once, and nothing is started.
COLD_FLIGHTS_PER_CLIENT = 32


class SingleFlight:
    def __init__(
        self,
        store: Store,
        *,
        lease_ttl: float = LEASE_TTL_SECONDS,
        renew_every: float = LEASE_RENEW_SECONDS,
        per_client: int = COLD_FLIGHTS_PER_CLIENT,
        busy_retry_after: float = 5.0,
    ) -> None:
        self._store = store
        self._per_client = per_client
        self._busy_retry_after = busy_retry_after  # told to a client refused for its backlog
        self._started: Counter[str] = Counter()  # flights running, by the client that started them
        self._owners: dict[str, str] = {}
        self._lease_ttl = lease_ttl
        self._renew_every = renew_every
        self._local: dict[str, asyncio.Task[Any]] = {}
        self._priorities: dict[str, Priority] = {}  # each flight's, derived from its waiters
        # Each flight's upstream requests, and the tallies that counted them as they went.
        self._tallies: dict[str, tuple[list[int], tuple[list[int], ...]]] = {}
        self._demand = FleetDemand(store)  # users waiting for a flight in other processes
        self._closing = False

    def running(self, key: str) -> bool:
        """Whether this process computes `key` now (no store round trip: the hit path's)."""
        return key in self._local

    async def in_progress(self, key: str) -> bool:
        """Whether any process of the fleet computes `key` now (its lease is held)."""
        return self.running(key) or await self._store.get(Keys.lease(key)) is not None

    async def run(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]],
        check: Callable[[], Awaitable[T | None]],
    ) -> T:
        """The result of `compute`, run once fleet-wide; others get it through `check`.

        `check` reads what a computation elsewhere stored (None: nothing usable yet).
        The shared task is shielded: a caller that stops waiting (gives up, hangs up) does
        not cancel it, so nothing it paid for upstream is lost; while it has no waiter left
        at user priority, it goes on at background priority.
        """
        if self._closing:
            raise _shutting_down()
        task = self._local.get(key)
        joined = task is not None
        if task is None:
            self._admit(key, priorities.current())
            priority = Priority()
            # The task's context: its requests' priority, and a count of them for joiners.
            with running_as(priority), tally_requests() as spent:
                task = asyncio.create_task(self._fleet(key, compute, check), name=f"flight:{key}")
            self._local[key], self._priorities[key] = task, priority
            self._tallies[key] = (spent, tally.open_here())
            task.add_done_callback(lambda t: self._forget(key, t))
        spent, counted = self._tallies[key]
        try:
            with self._priorities[key].waited_on_by(priorities.current()):
                result: T = await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and self._closing and not (current and current.cancelling()):
                # The flight was stopped by close(), not this caller: tell it so, honestly.
                raise _shutting_down() from None
            raise
        if joined:  # its requests were counted where it started: count them here too
            tally.count(spent[0], counted=counted)
            metrics.FLIGHTS.labels("joiner").inc()
        return result

    def keep_priority(self, key: str, seconds: float) -> None:
        """The caller stops waiting for now but will come back within `seconds`: its flight
        keeps the caller's priority until then (a user told to retry is still a user), in
        the process running it too when that is another (the retry may land anywhere)."""
        priority = self._priorities.get(key)
        if priority is not None:
            priority.hold(priorities.current(), seconds)
            self._demand.lend_now(key)

    async def close(self) -> None:
        """Stop every flight of this process; each releases its leases and wakes its waiters
        on the way out, so other processes take over at once instead of when a lease lapses."""
        self._closing = True
        tasks = list(self._local.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._demand.close()

    def _admit(self, key: str, caller: Priority) -> None:
        """Count a flight a user's request starts against its client; refuse one too many."""
        if not (caller.fixed and caller.is_user()):
            return  # background work, or work inside another flight (already admitted)
        (client,) = caller.clients()
        if self._started[client] >= self._per_client:
            metrics.FLIGHTS.labels("refused").inc()
            raise UpstreamRateLimited(
                f"{self._per_client} answers asked with this API token are being fetched from "
                "Voiceflow in this process already; this one is not started: retry after "
                "the time given",
                retry_after=self._busy_retry_after,
            )
        self._started[client] += 1
        self._owners[key] = client

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._local.get(key) is task:
            del self._local[key], self._priorities[key], self._tallies[key]
            owner = self._owners.pop(key, None)
            if owner is not None:
                self._started[owner] -= 1
                if not self._started[owner]:
                    del self._started[owner]
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure is not logged as lost

    async def _fleet(
        self,
        key: str,
        compute: Callable[[], Awaitable[T]],
        check: Callable[[], Awaitable[T | None]],
    ) -> T:
        lease = Keys.lease(key)
        token = secrets.token_hex(16)
        # No limit on rounds: the requester bounds its own wait, and a holder that is alive
        # keeps renewing its lease, while one that died or failed frees it for us to take.
        while True:
            async with self._store.watch(key) as done:
                (left,) = await acquire(self._store, [lease], token, self._lease_ttl)
                if not left:
                    metrics.FLIGHTS.labels("leader").inc()
                    return await self._hold(key, lease, token, compute)
                found = await check()
                if found is not None:
                    metrics.FLIGHTS.labels("follower").inc()
                    return found
                # Woken by the holder's notification, or when its lease would lapse.
                # Meanwhile the users waiting here raise the holder's fetch to theirs.
                with self._demand.lending(key, priorities.current()):
                    await wait_event(done, left + LEASE_GRACE_SECONDS)
                found = await check()
                if found is not None:
                    metrics.FLIGHTS.labels("follower").inc()
                    return found
                if done.is_set():
                    log.info("flight %s: the holder finished without a value; taking over", key)

    async def _hold(
        self, key: str, lease: str, token: str, compute: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            async with renewing(self._store, [lease], token, self._lease_ttl, self._renew_every):
                with self._demand.heeding(key, priorities.current()):
                    return await compute()
        finally:
            await self._store.notify(key)


def _shutting_down() -> ServiceUnavailable:
    return ServiceUnavailable(
        "this process is shutting down; try again", retry_after=RETRY_AFTER_SHUTDOWN
    )


async def acquire(store: Store, leases: list[str], token: str, ttl: float) -> list[float]:
    """store.acquire, safe to cancel: a cancel that lands while the script runs waits for it,
    then gives back what it took, so a stopped process never leaves a lease to lapse."""
    taking = asyncio.ensure_future(store.acquire(leases, token, ttl))
    try:
        return await asyncio.shield(taking)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await taking
            await store.release(leases, token)
        raise


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; whether it came. (asyncio.wait_for would wrap
    the wait in a task of its own: a waiting fetch is kept to as few objects as it can be.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


@contextlib.asynccontextmanager
async def renewing(
    store: Store, leases: list[str], token: str, ttl: float, every: float
) -> AsyncIterator[None]:
    """Keep `leases` held while the body runs (a long fetch), then release them."""
    renewal = _Renewal(store, leases, token, ttl, every)
    try:
        yield
    finally:
        await renewal.stop()
        await store.release(leases, token)


class _Renewal:
    """Renews `leases` every `every` seconds: between renewals only a timer is kept, not a
    waiting task (many fetches wait for the budget at once, each holding its leases).

    A renewal under way when the body ends is waited for, not cancelled: a cancellation
    that lands inside a Redis call can be swallowed by the client, and the release after
    it must not race a renewal still in flight.
    """

    def __init__(self, store: Store, leases: list[str], token: str, ttl: float, every: float):
        self._store, self._leases, self._token, self._ttl = store, leases, token, ttl
        self._every = every
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(every, self._due)
        self._running: asyncio.Task[None] | None = None

    def _due(self) -> None:
        self._timer = None
        self._running = self._loop.create_task(self._renew())

    async def _renew(self) -> None:
        try:
            if await self._store.renew(self._leases, self._token, self._ttl) < len(self._leases):
                log.warning("lost a lease among %s while working", self._leases[:3])
                return
        except Exception:
            log.exception("renewing leases %s failed; trying again", self._leases[:3])
        finally:
            self._running = None  # a finished task is not kept
        self._timer = self._loop.call_later(self._every, self._due)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        running, self._running = self._running, None
        if running is not None and not running.done():
            await running
        if self._timer is not None:  # re-armed by the renewal just waited for
            self._timer.cancel()
