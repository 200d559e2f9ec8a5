"""A client's cold asks start at most `per_client` flights in a process; the rest are
refused at once, with nothing started. Leases of a long flight are renewed by a timer."""

from __future__ import annotations

import asyncio

import pytest

from service.errors import UpstreamRateLimited
from service.fleet import priority as priorities
from service.fleet.flight import SingleFlight
from service.fleet.priority import background, running_as
from service.store.base import Store
from service.store.keys import Keys
from service.store.memory import MemoryStore


async def nothing_stored() -> str | None:
    return None


class Gate:
    """Computations that run until let through; counts how many were started."""

    def __init__(self) -> None:
        self.started = 0
        self.open = asyncio.Event()

    async def compute(self) -> str:
        self.started += 1
        await self.open.wait()
        return "answer"


def ask_as(client: str, flight: SingleFlight, key: str, gate: Gate) -> asyncio.Task[str]:
    with running_as(priorities.user(client)):
        return asyncio.create_task(flight.run(key, gate.compute, nothing_stored))


async def test_a_client_past_its_flights_is_refused_at_once_and_nothing_starts() -> None:
    flight = SingleFlight(MemoryStore(), per_client=2, busy_retry_after=7.0)
    gate = Gate()
    mine = [ask_as("a", flight, f"k{i}", gate) for i in range(2)]
    await asyncio.sleep(0.01)
    assert gate.started == 2

    refused = ask_as("a", flight, "k2", gate)
    with pytest.raises(UpstreamRateLimited, match="retry after") as caught:
        await refused
    assert caught.value.retry_after == 7.0
    assert gate.started == 2 and not flight.running("k2")

    # Joining a flight under way starts nothing: allowed. Another client has its own share,
    # and background work (refreshes, the warmer) is not counted at all.
    joiner = ask_as("a", flight, "k0", gate)
    other = ask_as("b", flight, "k3", gate)
    with background():
        warming = asyncio.create_task(flight.run("k4", gate.compute, nothing_stored))
    await asyncio.sleep(0.01)
    assert gate.started == 4

    gate.open.set()
    assert await asyncio.gather(*mine, joiner, other, warming) == ["answer"] * 5
    # Finished flights free their places: the client may start as many again.
    again = Gate()
    again.open.set()
    assert await asyncio.gather(*(ask_as("a", flight, f"n{i}", again) for i in range(2))) == [
        "answer",
        "answer",
    ]


async def test_a_failed_flight_frees_its_place() -> None:
    flight = SingleFlight(MemoryStore(), per_client=1)

    async def fails() -> str:
        raise RuntimeError("upstream broke")

    with running_as(priorities.user("a")):
        with pytest.raises(RuntimeError):
            await flight.run("k", fails, nothing_stored)
        gate = Gate()
        gate.open.set()
        assert await flight.run("k2", gate.compute, nothing_stored) == "answer"


async def test_a_long_flight_keeps_its_lease_past_the_ttl_then_releases_it(store: Store) -> None:
    flight = SingleFlight(store, lease_ttl=0.5, renew_every=0.1)
    lease = Keys.lease("long")
    held: list[bool] = []

    async def compute() -> str:
        for _ in range(15):  # 1.5 s: three lease TTLs
            await asyncio.sleep(0.1)
            held.append(await store.get(lease) is not None)
        return "done"

    assert await flight.run("long", compute, nothing_stored) == "done"
    assert all(held), held
    assert await store.get(lease) is None
