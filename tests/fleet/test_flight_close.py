"""Closing single flight: running flights stop, release their leases, and say why."""

from __future__ import annotations

import asyncio

import pytest

from service.errors import ServiceUnavailable
from service.fleet.flight import SingleFlight
from service.store.base import Store
from service.store.keys import Keys


async def nothing_stored() -> str | None:
    return None


async def started_flight(flight: SingleFlight) -> asyncio.Task[str]:
    """A caller waiting on a flight that runs until stopped, once the flight has started."""
    started = asyncio.Event()

    async def compute() -> str:
        started.set()
        await asyncio.sleep(60)
        return "never"

    waiter = asyncio.create_task(flight.run("k", compute, nothing_stored))
    await started.wait()
    return waiter


async def test_close_cancels_flights_releases_leases_and_answers_503(store: Store) -> None:
    """A waiter gets a 503 saying the process shuts down; the lease is gone at once."""
    flight = SingleFlight(store)
    waiter = await started_flight(flight)
    assert await store.get(Keys.lease("k")) is not None
    assert await flight.in_progress("k")
    async with store.watch("k") as done:  # another process's waiter is woken, not left waiting
        await flight.close()
        await asyncio.wait_for(done.wait(), 2)
    with pytest.raises(ServiceUnavailable, match="shutting down"):
        await waiter
    assert await store.get(Keys.lease("k")) is None
    with pytest.raises(ServiceUnavailable, match="shutting down"):
        await flight.run("other", nothing_stored, nothing_stored)  # nothing new starts now


async def test_a_cancelled_caller_is_cancelled_not_told_503(store: Store) -> None:
    """Only close() turns a stopped flight into a 503; a caller's own cancel stays a cancel."""
    flight = SingleFlight(store)
    waiter = await started_flight(flight)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flight.running("k")  # shielded: the flight goes on for the others
    await flight.close()
