"""Shortest work first: within a process the least work takes the next token, and across
processes a larger work stands back while a smaller one waits elsewhere."""

from __future__ import annotations

import asyncio
import time

from service.fleet.queue import Turns, remaining, sizing
from service.store.base import Store
from tests.fleet.test_budget import Clock, budget


async def test_turns_go_to_the_least_work_first_then_the_earliest() -> None:
    turns, order = Turns(), []

    async def waiter(name: str, work: float) -> None:
        async with turns.turn(work):
            order.append(name)
            await asyncio.sleep(0)

    async with turns.turn(0):
        tasks = [
            asyncio.create_task(waiter(name, work))
            for name, work in (("big", 50), ("small", 1), ("mid", 5), ("small too", 1))
        ]
        gone = asyncio.create_task(waiter("cancelled", 0.5))
        await asyncio.sleep(0)
        gone.cancel()  # a waiter that stops waiting gives up its place, not the turn
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["small", "small too", "mid", "big"]
    async with turns.turn(3):  # free again: taken at once
        pass


async def test_a_turn_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    turns, order = Turns(), []

    async def waiter(name: str, work: float) -> None:
        async with turns.turn(work):
            order.append(name)

    async with turns.turn(0):
        first = asyncio.create_task(waiter("first", 1))
        second = asyncio.create_task(waiter("second", 2))
        await asyncio.sleep(0)
    first.cancel()  # granted on release, cancelled before it could run
    await asyncio.gather(first, second, return_exceptions=True)
    assert order == ["second"]


def test_work_is_what_the_fetch_says_and_one_request_outside_any() -> None:
    assert remaining() == 1.0
    left = [7.0]
    with sizing(lambda: left[0]):
        assert remaining() == 7.0
        left[0] = 0  # the last page is still a request
        assert remaining() == 1.0
    assert remaining() == 1.0


async def test_the_budget_serves_waiters_by_their_work(store: Store) -> None:
    clock = Clock()
    b = budget(store, clock, rate=2, burst=1)
    await b.acquire(time.monotonic() + 60)  # the bucket is empty now
    order: list[float] = []

    async def fetch(work: float) -> None:
        with sizing(lambda: work):
            await b.acquire()
        order.append(work)

    async with b._turns[False].turn(0):  # a fetch polling the bucket while the others arrive
        tasks = [asyncio.create_task(fetch(w)) for w in (40, 30, 2, 10)]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [2, 10, 30, 40]


async def test_a_larger_work_stands_back_while_a_smaller_waits_in_another_process(
    store: Store,
) -> None:
    clock = Clock()
    big, small = budget(store, clock, rate=2, burst=2), budget(store, clock, rate=2, burst=2)
    assert await big._take(False, 50) == 0  # big holds the head
    assert await small._take(False, 2) == 0  # smaller: it takes the head over
    clock.now += 0.5
    assert await big._take(False, 50) == 0.5  # a token is there, but not for big
    assert await small._take(False, 2) == 0  # small's
    clock.now += 0.6
    assert await big._take(False, 50) == 0.4  # small's claim outlasts its grant by 1 s
    clock.now += 0.5  # small has not come back (its fetch is done): the claim lapses
    assert await big._take(False, 50) == 0
    assert await small._take(True, 1) > 0  # background: its own bucket and the reserve
    clock.now += 10
    assert await small._take(True, 1) == 0
    assert await big._take(False, 50) == 0  # background never holds the head


async def test_turns_are_shared_fairly_between_clients_then_by_work() -> None:
    """One client's ten small waiters do not hold up another's larger one for all ten: the
    turns alternate, and a client that joins late starts level, not with idle credit."""
    turns, order = Turns(), []

    async def waiter(name: str, client: str, work: float) -> None:
        async with turns.turn(work, lambda: {client}):
            order.append(name)
            await asyncio.sleep(0)

    async with turns.turn(0, lambda: {"greedy"}):
        tasks = [asyncio.create_task(waiter(f"g{i}", "greedy", 1)) for i in range(6)]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(waiter(f"w{i}", "week", 8)) for i in range(2)]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    # The week's client joins level with greedy's (one turn each): ties go by work, so g0
    # first; then the week's waiters alternate with greedy's, despite their larger work.
    assert order == ["g0", "w0", "g1", "w1", "g2", "g3", "g4", "g5"]


async def test_a_fetch_two_clients_wait_for_goes_at_the_turn_of_the_one_it_is_due_to() -> None:
    turns, order = Turns(), []

    async def waiter(name: str, clients: set[str], work: float) -> None:
        async with turns.turn(work, lambda: clients):
            order.append(name)

    async with turns.turn(0, lambda: {"greedy"}):
        tasks = [asyncio.create_task(waiter(f"g{i}", {"greedy"}, 1)) for i in range(3)]
        # A larger fetch both clients wait for: by work alone it would go last.
        tasks.append(asyncio.create_task(waiter("shared", {"greedy", "week"}, 5)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["g0", "shared", "g1", "g2"]
    assert turns.waiting() == 0
