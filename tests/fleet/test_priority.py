"""Priority follows who waits: a user joining background work raises it, leaving lowers it."""

from __future__ import annotations

import asyncio
import time

from service.fleet import priority as priorities
from service.fleet import tally
from service.fleet.budget import Budget
from service.fleet.flight import SingleFlight
from service.fleet.priority import USER, Priority, background, running_as
from service.fleet.tally import tally_requests
from service.store.base import Store
from service.store.memory import MemoryStore


async def test_a_user_joining_a_background_flight_raises_it_to_user_priority() -> None:
    """The warmer's flight runs at background priority until a user waits for it too."""
    flight = SingleFlight(MemoryStore())
    seen: list[bool] = []
    joined = asyncio.Event()

    async def compute() -> str:
        seen.append(priorities.current().is_user())
        await joined.wait()
        seen.append(priorities.current().is_user())
        return "answer"

    async def check() -> str | None:
        return None

    with background():
        warming = asyncio.create_task(flight.run("k", compute, check))
    await asyncio.sleep(0.01)
    user = asyncio.create_task(flight.run("k", compute, check))
    await asyncio.sleep(0.01)
    joined.set()
    assert await user == await warming == "answer"
    assert seen == [False, True]


async def test_a_flight_nobody_waits_for_goes_on_at_background_priority() -> None:
    """A user who stops waiting leaves the fetch running, behind the users' work."""
    flight = SingleFlight(MemoryStore())
    seen: list[bool] = []
    gave_up, done = asyncio.Event(), asyncio.Event()

    async def compute() -> str:
        seen.append(priorities.current().is_user())
        await gave_up.wait()
        seen.append(priorities.current().is_user())
        done.set()
        return "answer"

    async def check() -> str | None:
        return None

    user = asyncio.create_task(flight.run("k", compute, check))
    await asyncio.sleep(0.01)
    user.cancel()  # the requester stops waiting (a deadline, or the client hung up)
    await asyncio.sleep(0.01)
    gave_up.set()
    await asyncio.wait_for(done.wait(), 1)
    assert seen == [True, False]
    await flight.close()


async def test_budget_moves_a_waiting_fetch_to_the_users_queue_when_a_user_joins() -> None:
    """A fetch waiting on the background share gets its token at once when a user joins."""
    store: Store = MemoryStore()
    # 0.2 tokens/s, 2 of the 2-token bucket kept for users: background waits seconds.
    budget = Budget(store, "VF.WS.p", rate=0.2, burst=2, background_share=0.5, max_wait=60)
    await budget.acquire()  # a user's token: the bucket holds 1, all of it reserved
    fetch = Priority()  # a flight nobody waits for: background
    with running_as(fetch):
        waiting = asyncio.create_task(budget.acquire())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    started = time.monotonic()
    fetch.hold(USER, 10)  # a user joins the flight
    await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - started < 1.0


async def test_a_joiner_counts_the_requests_of_the_flight_it_joined() -> None:
    """The warmer joining a flight another started reports that flight's requests too."""
    flight = SingleFlight(MemoryStore())
    release = asyncio.Event()

    async def compute() -> str:
        tally.count(3)  # three upstream requests
        await release.wait()
        return "answer"

    async def check() -> str | None:
        return None

    with tally_requests() as started:
        first = asyncio.create_task(flight.run("k", compute, check))
        await asyncio.sleep(0.01)
    with tally_requests() as joined:
        second = asyncio.create_task(flight.run("k", compute, check))
        await asyncio.sleep(0.01)
        release.set()
        assert await second == await first == "answer"
    assert started[0] == 3 and joined[0] == 3


async def test_a_joiner_under_the_starters_tally_does_not_count_twice() -> None:
    """Two refreshes of one warmer run sharing a flight: the run counts its requests once."""
    flight = SingleFlight(MemoryStore())
    release = asyncio.Event()

    async def compute() -> str:
        tally.count(2)
        await release.wait()
        return "answer"

    async def check() -> str | None:
        return None

    with tally_requests() as run:
        first = asyncio.create_task(flight.run("k", compute, check))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(flight.run("k", compute, check))
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, second)
    assert run[0] == 2
