"""Exports cost no extra upstream request, are cached briefly, and render off the event loop
within a bound."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from service.app import EXPORT_RENDERS
from service.errors import ServiceUnavailable
from service.exports.pool import WORKER_NICENESS, RenderPool
from service.http.appkeys import EXPORTS
from tests.conftest import Sim, body
from tests.exports.helpers import answer, export


async def test_export_after_the_answers_costs_no_upstream_request(client: Any, sim: Sim) -> None:
    """A CSV after the overview, a PDF after the compare: zero upstream requests."""
    await answer(client, "overview")
    spent = sim.requests()
    assert (await export(client, format="csv")).status == 200
    assert sim.requests() == spent
    await answer(client, "compare")
    spent = sim.requests()
    for size in ("A4", "Letter"):
        assert (await export(client, page_size=size)).status == 200
    assert sim.requests() == spent


async def test_repeated_export_is_a_cache_hit(
    client: Any, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same export again: X-Cache HIT, the same bytes, no render, no upstream request."""
    renders = count_renders(client, monkeypatch)
    first = await export(client, page_size="Letter")
    assert first.headers["X-Cache"] == "MISS"
    spent = sim.requests()
    again = await export(client, page_size="Letter")
    assert again.headers["X-Cache"] == "HIT"
    assert await again.read() == await first.read()
    assert renders() == 1 and sim.requests() == spent
    assert (await export(client, page_size="A4")).headers["X-Cache"] == "MISS"
    csv = await export(client, format="csv")
    assert csv.headers["X-Cache"] == "MISS"
    # A CSV has no pages: page_size does not make it another question.
    assert (await export(client, format="csv", page_size="Letter")).headers["X-Cache"] == "HIT"
    assert renders() == 3


def count_renders(client: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    renders = client.app[EXPORTS]
    calls = []
    real = renders.run

    async def counted(*args: Any) -> Any:
        calls.append(args[0])
        return await real(*args)

    monkeypatch.setattr(renders, "run", counted)
    return lambda: len(calls)


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_concurrent_exports_stay_within_the_bound(client: Any) -> None:
    """Three times the bound of PDF exports at once: all succeed, never more than the bound
    render at a time, and a cached overview answers promptly meanwhile."""
    renders = client.app[EXPORTS]
    await answer(client, "compare", start="2025-01-01", end="2025-03-31")
    await answer(client, "overview")
    exports = asyncio.gather(
        *(
            export(client, start="2025-01-01", end="2025-03-31", page_size=("A4", "Letter")[i % 2])
            for i in range(3 * EXPORT_RENDERS)
        )
    )
    peaks = []

    async def sample() -> None:
        while not exports.done():
            peaks.append(renders.running)
            await asyncio.sleep(0.002)

    sampler = asyncio.ensure_future(sample())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    assert time.perf_counter() - started < 0.25
    assert [r.status for r in await exports] == [200] * (3 * EXPORT_RENDERS)
    await sampler
    assert 1 <= max(peaks) <= EXPORT_RENDERS


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_exports_queue_for_a_renderer_while_overview_answers(client: Any) -> None:
    """With every renderer busy, an export waits for one (no error) and a cached overview
    answers at once meanwhile."""
    await answer(client, "compare")
    slots = client.app[EXPORTS].slots
    for _ in range(EXPORT_RENDERS):
        await slots.acquire()
    queued = asyncio.ensure_future(export(client))
    started = time.perf_counter()
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    assert time.perf_counter() - started < 0.25
    await asyncio.sleep(0.3)
    assert not queued.done()
    slots.release()
    assert (await queued).status == 200


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_busy_renderers_answer_503_with_retry_after(client: Any) -> None:
    """With every renderer busy past the wait: 503 problem+json with Retry-After."""
    await answer(client, "compare")
    renders = client.app[EXPORTS]
    renders.wait = 0.2
    for _ in range(EXPORT_RENDERS):
        await renders.slots.acquire()
    resp = await client.post("/api/export", json=body(format="pdf"))  # once: no retrying
    assert resp.status == 503
    assert resp.content_type == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1
    assert "busy" in (await resp.json())["detail"]


async def test_a_cancelled_export_keeps_its_slot_until_the_render_ends() -> None:
    """A client hanging up mid-render does not free the slot early (the bound holds)."""
    renders = RenderPool(1)
    try:
        request = asyncio.ensure_future(renders.run(time.sleep, 0.6))
        await asyncio.sleep(0.3)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert renders.slots.locked() and renders.running == 1
        async with asyncio.timeout(5):
            await renders.slots.acquire()
        assert renders.running == 0
    finally:
        await renders.close()


async def test_hung_renders_do_not_leave_exports_stuck() -> None:
    """A render past its timeout is answered 503 and its worker killed: two hangs in a row,
    with one worker, and the next render still runs (it used to queue behind them)."""
    renders = RenderPool(1, timeout=0.5)
    try:
        for _ in range(2):
            with pytest.raises(ServiceUnavailable) as hung:
                await renders.run(time.sleep, 30)
            assert "to render" in hung.value.detail
        async with asyncio.timeout(10):
            assert await renders.run(abs, -3) == 3
    finally:
        await renders.close()


async def test_workers_run_at_a_lower_cpu_priority() -> None:
    renders = RenderPool(1)
    try:
        niceness = await renders.run(os.nice, 0)
        assert niceness == min(19, os.nice(0) + WORKER_NICENESS)
    finally:
        await renders.close()
