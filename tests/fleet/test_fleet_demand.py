"""Users waiting in one process raise the flight another process runs: demand in the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from service.fleet import priority as priorities
from service.fleet.budget import Budget
from service.fleet.flight import SingleFlight
from service.fleet.priority import (
    DEMAND_REFRESH_SECONDS,
    PRIORITY_POLL_SECONDS,
    FleetDemand,
    Priority,
    background,
    running_as,
)
from service.store.base import Store
from service.store.keys import Keys
from service.store.memory import MemoryStore

# Demand written by one process reaches the other's flight within this long (plus slack for a
# busy machine: `eventually` returns as soon as it is seen).
NOTICED = DEMAND_REFRESH_SECONDS + 2 * PRIORITY_POLL_SECONDS + 2.0


async def nothing_stored() -> str | None:
    return None


class Fetch:
    """A computation that runs until let through, showing the priority it runs at."""

    def __init__(self) -> None:
        self.priority: Priority | None = None
        self.started = asyncio.Event()
        self.done = asyncio.Event()

    async def compute(self) -> str:
        self.priority = priorities.current()
        self.started.set()
        await self.done.wait()
        return "answer"

    def is_user(self) -> bool:
        assert self.priority is not None
        return self.priority.is_user()


async def running_in_background(flight: SingleFlight, key: str, fetch: Fetch) -> asyncio.Task[str]:
    """`key`'s flight run in `flight`'s process at background priority (the warmer's)."""
    with background():
        task = asyncio.create_task(flight.run(key, fetch.compute, nothing_stored))
    await asyncio.wait_for(fetch.started.wait(), 2)
    assert not fetch.is_user()
    return task


def ask_as(client: str, flight: SingleFlight, key: str) -> asyncio.Task[str | None]:
    with running_as(priorities.user(client)):
        return asyncio.create_task(flight.run(key, nothing_stored, nothing_stored))


async def eventually(condition: Callable[[], bool], within: float) -> float:
    """Seconds until `condition` held (fails past `within`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "not within the time allowed"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_user_waiting_in_another_process_raises_the_flight_to_user(store: Store) -> None:
    """Process A runs a fetch at background; a user waits for it in B: A's fetch is user
    priority, for that user's client, within a poll of B's write."""
    a, b, fetch = SingleFlight(store), SingleFlight(store), Fetch()
    running = await running_in_background(a, "k", fetch)
    user = ask_as("alice", b, "k")
    await eventually(fetch.is_user, NOTICED)
    assert fetch.priority is not None and fetch.priority.clients() == {"alice"}
    fetch.done.set()
    assert await running == "answer"
    assert await user is None  # B's waiter woke: nothing stored here, so B computed it
    await a.close()
    await b.close()


async def test_demand_lapses_when_the_remote_user_stops_waiting(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who gave up (and was not told to come back) stops raising the remote fetch
    once its demand's short TTL passes."""
    monkeypatch.setattr(priorities, "DEMAND_TTL_SECONDS", 0.6)
    monkeypatch.setattr(priorities, "DEMAND_REFRESH_SECONDS", 0.2)
    a, b, fetch = SingleFlight(store), SingleFlight(store), Fetch()
    running = await running_in_background(a, "k", fetch)
    user = ask_as("alice", b, "k")
    await eventually(fetch.is_user, NOTICED)
    user.cancel()  # the client hung up; B's flight waits on, for nobody
    await asyncio.gather(user, return_exceptions=True)
    await eventually(lambda: not fetch.is_user(), 0.6 + 2 * PRIORITY_POLL_SECONDS + 0.5)
    assert fetch.priority is not None and fetch.priority.clients() == frozenset()
    fetch.done.set()
    assert await running == "answer"
    await a.close()
    await b.close()


async def test_a_user_told_to_come_back_keeps_the_remote_fetch_at_user_priority(
    store: Store,
) -> None:
    """keep_priority in B (a 503 with Retry-After) holds A's fetch at user priority for the
    hold's length, fleet-wide: the demand is stored for that long, not for the short TTL."""
    a, b, fetch = SingleFlight(store), SingleFlight(store), Fetch()
    running = await running_in_background(a, "k", fetch)
    with running_as(priorities.user("alice")):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):  # UPSTREAM_MAX_WAIT_SECONDS, as answers.py waits
                await b.run("k", nothing_stored, nothing_stored)
        b.keep_priority("k", 30.0)
    await eventually(fetch.is_user, NOTICED)
    await asyncio.sleep(2 * PRIORITY_POLL_SECONDS)  # B's next poll writes the hold
    (left,) = await store.expires_in([Keys.demand("k")])
    assert left is not None and 20 < left <= 30
    fetch.done.set()
    assert await running == "answer"
    await a.close()
    await b.close()


async def test_background_waiters_elsewhere_lend_nothing(store: Store) -> None:
    """The warmer waiting on another process's flight leaves it at background priority."""
    a, b, fetch = SingleFlight(store), SingleFlight(store), Fetch()
    running = await running_in_background(a, "k", fetch)
    with background():
        warm = asyncio.create_task(b.run("k", nothing_stored, nothing_stored))
    await asyncio.sleep(NOTICED)
    assert not fetch.is_user()
    assert await store.get(Keys.demand("k")) is None
    fetch.done.set()
    await running
    warm.cancel()
    await asyncio.gather(warm, return_exceptions=True)
    await a.close()
    await b.close()


async def test_the_budget_serves_a_remote_users_fetch_from_the_users_share() -> None:
    """A fetch waiting on the background share gets its token at once when a user waits for
    it in another process."""
    store = MemoryStore()
    # 0.2 tokens/s, 2 of the 2-token bucket kept for users: background waits seconds.
    budget = Budget(store, "VF.WS.p", rate=0.2, burst=2, background_share=0.5, max_wait=60)
    await budget.acquire()  # a user's token: the bucket holds 1, all of it reserved
    a, b = SingleFlight(store), SingleFlight(store)
    waited: list[float] = []

    async def fetch() -> str:
        waited.append(await budget.acquire())
        return "answer"

    with background():
        running = asyncio.create_task(a.run("k", fetch, nothing_stored))
    await asyncio.sleep(0.5)
    assert not running.done()
    user = ask_as("alice", b, "k")
    assert await asyncio.wait_for(running, NOTICED + 1) == "answer"
    assert waited[0] < 0.5 + NOTICED + 0.5
    user.cancel()
    await asyncio.gather(user, return_exceptions=True)
    await a.close()
    await b.close()


class Failing:
    """A store whose reads and writes of values fail while `down` (leases still work)."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.down = True
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        self.calls += 1
        if self.down:
            raise ConnectionError("store unreachable")
        return await self._inner.mget(keys)

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("store unreachable")
        await self._inner.set_many(items)


async def test_a_store_failing_on_demand_harms_no_fetch_and_no_request(store: Store) -> None:
    """Demand that cannot be written or read counts as none; the fetch, the user's wait and
    polling itself go on, and demand counts again once the store answers."""
    failing = Failing(store)
    a, b = SingleFlight(failing), SingleFlight(failing)
    fetch = Fetch()
    running = await running_in_background(a, "k", fetch)
    user = ask_as("alice", b, "k")
    await asyncio.sleep(NOTICED)
    assert failing.calls >= 2 and not fetch.is_user() and not user.done()
    failing.down = False  # a failed write is tried again at the next refresh
    await eventually(fetch.is_user, NOTICED + DEMAND_REFRESH_SECONDS)
    fetch.done.set()
    assert await running == "answer"
    user.cancel()
    await asyncio.gather(user, return_exceptions=True)
    await a.close()
    await b.close()


async def test_polling_stops_when_no_flight_needs_it() -> None:
    """Nothing polls the store while no flight lends or heeds demand; close() stops it."""
    demand, priority = FleetDemand(MemoryStore(), poll=0.01), Priority()
    with demand.heeding("k", priority):
        await asyncio.sleep(0.05)
        assert demand._task is not None
    await eventually(lambda: demand._task is None, 1)
    with demand.lending("k", priority):
        await demand.close()
        assert demand._task is None
